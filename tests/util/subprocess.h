// Runs a command to completion and captures what it prints, for tests that
// check our output with independent tools (openssl, curl, promtool...).
#ifndef PALISADE_TESTS_UTIL_SUBPROCESS_H_
#define PALISADE_TESTS_UTIL_SUBPROCESS_H_

#include <string>
#include <vector>

#include "absl/time/time.h"

namespace palisade {
namespace testing {

struct CommandResult {
  int exit_code = -1;   // -1: not started, killed at the timeout, or no normal exit;
                        // 127: the program was not found
  std::string output;   // stdout and stderr, interleaved
  std::string command;  // the argv joined by spaces, for failure messages
};

// Runs argv (no shell; argv[0] is looked up in PATH unless it is a path),
// feeding `input` on stdin (then EOF). Kills it after `timeout`. Fails the
// current test (ADD_FAILURE) if the command crashed (SIGSEGV, SIGABRT, ...) or
// its output holds a sanitizer report; the exit code is the caller's to check.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         absl::Duration timeout = absl::Seconds(60), const std::string& input = "");

}  // namespace testing
}  // namespace palisade

#endif  // PALISADE_TESTS_UTIL_SUBPROCESS_H_
