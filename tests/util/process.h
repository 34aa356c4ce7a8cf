// Real processes for integration tests: started with posix_spawn, stopped
// only by the PID we got (SIGTERM, then SIGKILL), output captured to a file.
#ifndef PALISADE_TESTS_UTIL_PROCESS_H_
#define PALISADE_TESTS_UTIL_PROCESS_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/util/subprocess.h"

namespace palisade::testing {

class Process {
 public:
  // stdout and stderr go to `log_path`.
  static absl::StatusOr<std::unique_ptr<Process>> Start(const std::vector<std::string>& argv,
                                                        const std::string& log_path);
  // Stops the process if it still runs (SIGTERM, SIGKILL after 10 s).
  ~Process();

  pid_t pid() const { return pid_; }
  bool Running();
  void Signal(int signal_number);
  // The exit status (128+signal when killed), or nullopt on timeout.
  std::optional<int> Wait(absl::Duration timeout);
  // SIGTERM and wait; SIGKILL if it takes longer than `grace`.
  std::optional<int> Stop(absl::Duration grace = absl::Seconds(10));
  std::string Output() const;

 private:
  Process(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}
  pid_t pid_;
  std::string log_path_;
  std::optional<int> exit_status_;
};

// Polls `condition` until true or the timeout passes; returns its last value.
bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout,
             absl::Duration interval = absl::Milliseconds(20));

// GET/POST with curl; returns the HTTP status (0 when unreachable) and body.
struct HttpResult {
  int status = 0;
  std::string body;
};
HttpResult HttpGet(const std::string& url);
HttpResult HttpPost(const std::string& url, const std::string& body = "");

std::string ReadFileOrEmpty(const std::string& path);
bool WriteFile(const std::string& path, const std::string& contents);
// A fresh directory under $TEST_TMPDIR.
std::string MakeTempDir(const std::string& prefix);

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_UTIL_PROCESS_H_
