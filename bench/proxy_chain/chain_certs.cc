// Writes the benchmark's certificates: one trust domain, a frontend and a
// backend SVID (chain with intermediate, key, bundle), and the combined
// cert+key files haproxy wants. Both proxies under test get the same ones.
//
//   chain_certs --dir=DIR
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "tests/util/test_pki.h"

ABSL_FLAG(std::string, dir, "", "Where to write the files.");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string dir = absl::GetFlag(FLAGS_dir);
  if (dir.empty()) {
    std::cerr << "--dir is required\n";
    return 2;
  }
  palisade::testing::TestPki::Options options;
  options.trust_domain = "bench.local";
  options.now = absl::Now();
  palisade::testing::TestPki pki(options);
  for (const char* name : {"frontend", "backend"}) {
    const auto leaf = pki.IssueLeaf(std::string("/ns/bench/sa/") + name);
    pki.WriteFiles(dir, name, leaf);
    palisade::testing::WriteFileOrDie(dir + "/" + name + "-haproxy.pem",
                                      pki.ChainPem(leaf) + pki.KeyPem(leaf));
  }
  return 0;
}
