// The named seeds of a fuzzer's corpus (tests/fuzz/corpus/<fuzzer>/), for the
// tests that check each one's verdict. libFuzzer names the inputs it adds by
// the SHA-1 of their content; every other file is a seed a person named
// (make_seed_corpus.cc) for what it is.
#ifndef PALISADE_TESTS_FUZZ_SEED_FILES_H_
#define PALISADE_TESTS_FUZZ_SEED_FILES_H_

#include <dirent.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace palisade::fuzz {

inline bool IsFuzzerFindingName(const std::string& name) {
  if (name.size() != 40) return false;
  for (char c : name) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// name -> content of every named seed in `dir` (relative to the runfiles root).
inline std::map<std::string, std::string> NamedSeeds(const std::string& dir) {
  std::map<std::string, std::string> seeds;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return seeds;
  while (const dirent* entry = readdir(d)) {
    const std::string name = entry->d_name;
    if (name.empty() || name[0] == '.' || IsFuzzerFindingName(name)) continue;
    std::ifstream in(dir + "/" + name, std::ios::binary);
    std::stringstream content;
    content << in.rdbuf();
    seeds[name] = content.str();
  }
  closedir(d);
  return seeds;
}

}  // namespace palisade::fuzz

#endif  // PALISADE_TESTS_FUZZ_SEED_FILES_H_
