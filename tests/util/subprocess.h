// Runs a command to completion and captures what it prints, for tests that check
// our output with independent tools (openssl, bssl-tool...).
#ifndef PALISADE_TESTS_UTIL_SUBPROCESS_H_
#define PALISADE_TESTS_UTIL_SUBPROCESS_H_

#include <string>
#include <vector>

namespace palisade {
namespace testing {

struct CommandResult {
  int exit_code = -1;   // -1 if it could not be started or did not exit normally
  std::string output;   // stdout and stderr, interleaved
  std::string command;  // the argv joined by spaces, for failure messages
};

// Runs argv[0] (a path; no shell, no PATH lookup) with argv and stdin from
// /dev/null. Blocks until it exits.
CommandResult RunCommand(const std::vector<std::string>& argv);

}  // namespace testing
}  // namespace palisade

#endif  // PALISADE_TESTS_UTIL_SUBPROCESS_H_
