#include "tests/util/subprocess.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "tests/util/sanitizer_report.h"

extern char** environ;

namespace palisade {
namespace testing {
namespace {

int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return -1;
}

// A command that crashed or wrote a sanitizer report fails the test whatever
// exit code the caller expects: "exit_code != 0" must not pass on a crash.
void CheckForCrash(const CommandResult& result, int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    if (sig == SIGSEGV || sig == SIGABRT || sig == SIGBUS || sig == SIGILL || sig == SIGFPE) {
      ADD_FAILURE() << result.command << " crashed (signal " << sig << "):\n" << result.output;
    }
  }
  if (std::optional<std::string> report = FindSanitizerReport(result.output)) {
    ADD_FAILURE() << result.command << " wrote a sanitizer report:\n" << *report;
  }
}

}  // namespace

CommandResult RunCommand(const std::vector<std::string>& argv, absl::Duration timeout,
                         const std::string& input) {
  CommandResult result;
  result.command = absl::StrJoin(argv, " ");
  if (argv.empty()) return result;
  int in_pipe[2], out_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0) return result;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 2);
  pid_t pid;
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(in_pipe[0]);
  close(out_pipe[1]);
  if (rc != 0) {
    close(in_pipe[1]);
    close(out_pipe[0]);
    result.output = absl::StrCat("cannot start ", argv[0], ": ", std::strerror(rc));
    result.exit_code = rc == ENOENT ? 127 : -1;
    return result;
  }
  fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
  fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
  size_t written = 0;
  if (input.empty()) {
    close(in_pipe[1]);
    in_pipe[1] = -1;
  }
  const absl::Time deadline = absl::Now() + timeout;
  bool open = true;
  while (open && absl::Now() < deadline) {
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {in_pipe[1], POLLOUT, 0}};
    poll(fds, in_pipe[1] >= 0 ? 2 : 1, 50);
    char buf[65536];
    for (;;) {
      const ssize_t n = read(out_pipe[0], buf, sizeof(buf));
      if (n > 0) {
        result.output.append(buf, n);
        continue;
      }
      if (n == 0) open = false;
      break;
    }
    if (in_pipe[1] >= 0) {
      const ssize_t n = write(in_pipe[1], input.data() + written, input.size() - written);
      if (n > 0) written += n;
      if (written == input.size() || (n < 0 && errno != EAGAIN)) {
        close(in_pipe[1]);
        in_pipe[1] = -1;
      }
    }
  }
  if (in_pipe[1] >= 0) close(in_pipe[1]);
  close(out_pipe[0]);
  int status = 0;
  if (open) {  // timed out
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    result.exit_code = -1;
    return result;
  }
  waitpid(pid, &status, 0);
  result.exit_code = DecodeStatus(status);
  CheckForCrash(result, status);
  return result;
}

}  // namespace testing
}  // namespace palisade
