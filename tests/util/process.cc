#include "tests/util/process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "tests/util/sanitizer_report.h"

extern char** environ;

namespace palisade::testing {
namespace {

std::vector<char*> Argv(const std::vector<std::string>& args) {
  std::vector<char*> out;
  for (const auto& a : args) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::string DescribeStatus(int status) {
  if (status > 128) return absl::StrCat(status, " (signal ", status - 128, ")");
  return absl::StrCat(status);
}

size_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<size_t>(st.st_size) : 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Process>> Process::Start(const std::vector<std::string>& given,
                                                        const std::string& log_path,
                                                        const SpawnOptions& options) {
  std::vector<std::string> argv = given;
  std::string setup;
  if (options.umask.has_value()) setup += absl::StrFormat("umask %03o && ", *options.umask);
  if (options.open_files.has_value())
    setup += absl::StrFormat("ulimit -n %d && ", *options.open_files);
  if (!setup.empty()) {
    // posix_spawn cannot set a umask or a limit, and setting ours would race
    // other threads; the shell execs argv, so pid() stays the child's.
    argv.insert(argv.begin(), {"/bin/sh", "-c", setup + "exec \"$0\" \"$@\""});
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  // The child starts with no blocked signals even if the test blocked some.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  const size_t log_offset = FileSize(log_path);
  pid_t pid;
  std::vector<char*> args = Argv(argv);
  const int rc = posix_spawnp(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("cannot start ", argv[0], ": ", std::strerror(rc)));
  }
  return std::unique_ptr<Process>(new Process(pid, absl::StrJoin(argv, " "), log_path, log_offset));
}

Process::~Process() {
  Stop();
  if (checked_) return;
  if (absl::Status s = CheckExit(); !s.ok()) ADD_FAILURE() << s.message();
}

bool Process::Running() {
  if (exit_status_.has_value()) return false;
  int status;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_status_ = DecodeStatus(status);
    return false;
  }
  return true;
}

void Process::Signal(int signal_number) {
  if (Running()) kill(pid_, signal_number);
}

std::optional<int> Process::Wait(absl::Duration timeout) {
  WaitFor([this] { return !Running(); }, timeout, absl::Milliseconds(10));
  return exit_status_;
}

std::optional<int> Process::Stop(absl::Duration grace) {
  if (!Running()) return exit_status_;
  kill(pid_, SIGTERM);
  if (Wait(grace).has_value()) return exit_status_;
  escalated_to_kill_ = true;
  kill(pid_, SIGKILL);
  return Wait(absl::Seconds(10));
}

std::optional<int> Process::Kill() {
  expected_exit_ = 128 + SIGKILL;
  if (!Running()) return exit_status_;
  kill(pid_, SIGKILL);
  return Wait(absl::Seconds(10));
}

absl::Status Process::CheckExit() {
  if (Running()) {
    return absl::FailedPreconditionError(
        absl::StrCat(command_, " (pid ", pid_, ") still runs; log: ", log_path_));
  }
  checked_ = true;
  std::vector<std::string> problems;
  if (*exit_status_ != expected_exit_) {
    problems.push_back(absl::StrCat(
        "exited with status ", DescribeStatus(*exit_status_), ", expected ",
        DescribeStatus(expected_exit_),
        escalated_to_kill_ ? " (it did not end after SIGTERM, so it was killed)" : ""));
  }
  const std::string log = ReadFileOrEmpty(log_path_);
  const std::string mine = log.size() > log_offset_ ? log.substr(log_offset_) : "";
  if (std::optional<std::string> report = FindSanitizerReport(mine)) {
    problems.push_back(absl::StrCat("wrote a sanitizer report:\n", *report));
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(command_, " (pid ", pid_, ") ",
                                          absl::StrJoin(problems, "; "), "\nlog: ", log_path_));
}

std::string Process::Output() const { return ReadFileOrEmpty(log_path_); }

std::string ExitForCaller(Process& process) {
  if (process.Running()) return "";
  const int status = *process.Wait(absl::ZeroDuration());
  process.ExpectExit(status);
  return absl::StrCat(" (exited with status ", DescribeStatus(status), ")");
}

bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout,
             absl::Duration interval) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(interval);
  }
}

namespace {

HttpResult Curl(std::vector<std::string> args) {
  std::vector<std::string> argv = {"curl", "-s", "-m", "10", "-w", "\n%{http_code}"};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult r = RunCommand(argv, absl::Seconds(15));
  HttpResult result;
  const size_t nl = r.output.rfind('\n');
  if (nl == std::string::npos) return result;
  (void)absl::SimpleAtoi(r.output.substr(nl + 1), &result.status);
  result.body = r.output.substr(0, nl);
  return result;
}

}  // namespace

HttpResult HttpGet(const std::string& url) { return Curl({url}); }

HttpResult HttpPost(const std::string& url, const std::string& body) {
  return Curl({"-X", "POST", "--data-binary", body, url});
}

HttpResult HttpRequest(const std::string& method, const std::string& url,
                       const std::vector<std::string>& headers, const std::string& body) {
  // -H "Content-Type:" drops the type --data-binary would add, unless a
  // header below sets one.
  std::vector<std::string> args = {"-X", method, "-H", "Content-Type:"};
  for (const std::string& h : headers) args.insert(args.end(), {"-H", h});
  if (!body.empty() || method == "POST") args.insert(args.end(), {"--data-binary", body});
  args.push_back(url);
  return Curl(args);
}

HttpResult HttpPostJson(const std::string& url, const std::string& body,
                        const std::string& bearer_token) {
  std::vector<std::string> headers = {"Content-Type: application/json"};
  if (!bearer_token.empty()) headers.push_back("Authorization: Bearer " + bearer_token);
  return HttpRequest("POST", url, headers, body);
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  return static_cast<bool>(out);
}

std::string MakeTempDir(const std::string& prefix) {
  static std::atomic<int> counter{0};
  const char* base = getenv("TEST_TMPDIR");
  std::string dir =
      absl::StrCat(base != nullptr ? base : "/tmp", "/", prefix, "-", getpid(), "-", counter++);
  mkdir(dir.c_str(), 0700);
  return dir;
}

}  // namespace palisade::testing
