// Real processes for integration tests: started with posix_spawn, stopped
// only by the PID we got (SIGTERM, then SIGKILL), output captured to a file,
// and checked when they end: the expected exit status, no sanitizer report.
#ifndef PALISADE_TESTS_UTIL_PROCESS_H_
#define PALISADE_TESTS_UTIL_PROCESS_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/util/subprocess.h"

namespace palisade::testing {

struct SpawnOptions {
  // The child's umask (e.g. 0, to see that it sets its files' modes itself);
  // unset: inherited. Applied by a shell that then execs argv, so pid() stays it.
  std::optional<mode_t> umask;
  // The child's RLIMIT_NOFILE (soft and hard), e.g. to see how it copes with
  // few descriptors; unset: inherited. Applied by the same shell.
  std::optional<int> open_files;
};

class Process {
 public:
  // stdout and stderr go to `log_path` (appended to).
  static absl::StatusOr<std::unique_ptr<Process>> Start(const std::vector<std::string>& argv,
                                                        const std::string& log_path,
                                                        const SpawnOptions& options = {});
  // Stops the process if it still runs (SIGTERM, SIGKILL after 10 s), then
  // fails the current test (ADD_FAILURE) unless CheckExit() is OK.
  ~Process();

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }
  bool Running();
  void Signal(int signal_number);
  // The exit status (128+signal when killed), or nullopt on timeout.
  std::optional<int> Wait(absl::Duration timeout);
  // SIGTERM and wait; SIGKILL if it takes longer than `grace` (an exit that
  // CheckExit refuses unless the test expected it).
  std::optional<int> Stop(absl::Duration grace = absl::Seconds(10));
  // SIGKILL and wait. A deliberate kill: 128+SIGKILL becomes the expected exit.
  std::optional<int> Kill();
  // The exit status the test expects; 0 unless said otherwise, also after our
  // own SIGTERM (palisade-proxy and palisade-control drain and exit 0).
  void ExpectExit(int status) { expected_exit_ = status; }
  // OK when the process has ended with the expected status and what it wrote
  // since Start holds no sanitizer report; otherwise why not, naming the log.
  // Once called on an ended process, the destructor does not check again.
  absl::Status CheckExit();
  std::string Output() const;

 private:
  Process(pid_t pid, std::string command, std::string log_path, size_t log_offset)
      : pid_(pid),
        command_(std::move(command)),
        log_path_(std::move(log_path)),
        log_offset_(log_offset) {}
  pid_t pid_;
  std::string command_;
  std::string log_path_;
  size_t log_offset_;  // the log may hold an earlier process's output
  std::optional<int> exit_status_;
  int expected_exit_ = 0;
  bool escalated_to_kill_ = false;
  bool checked_ = false;
};

// For a start that failed: if `process` has exited, its status becomes the
// expected one (the caller gets it in the error and decides) and this returns
// " (exited with status N)"; "" while it still runs.
std::string ExitForCaller(Process& process);

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
// Any method, with extra headers ("Name: value"); curl sends no Content-Type
// unless one of them sets it.
HttpResult HttpRequest(const std::string& method, const std::string& url,
                       const std::vector<std::string>& headers, const std::string& body = "");
// A POST as the admin APIs want it: application/json, and with a non-empty
// `bearer_token`, "Authorization: Bearer <it>".
HttpResult HttpPostJson(const std::string& url, const std::string& body,
                        const std::string& bearer_token = "");

std::string ReadFileOrEmpty(const std::string& path);
bool WriteFile(const std::string& path, const std::string& contents);
// A fresh directory under $TEST_TMPDIR.
std::string MakeTempDir(const std::string& prefix);

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_UTIL_PROCESS_H_
