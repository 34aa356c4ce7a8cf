#include "control/state/etcd/bridge_directory.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"

namespace palisade::control::state::etcd {
namespace {

constexpr char kPrefix[] = "palisade-etcd-";
// /proc gives a process's start to the clock tick but the boot time only to
// the second.
constexpr absl::Duration kStartSlack = absl::Seconds(2);

// The pid in "palisade-etcd-<pid>-XXXXXX", if the name has that shape.
std::optional<pid_t> PidOf(absl::string_view name) {
  if (!absl::ConsumePrefix(&name, kPrefix)) return std::nullopt;
  const size_t dash = name.find('-');
  if (dash == absl::string_view::npos || name.size() - dash - 1 != 6) return std::nullopt;
  int pid = 0;
  if (!absl::SimpleAtoi(name.substr(0, dash), &pid) || pid <= 0) return std::nullopt;
  return pid;
}

// When `pid` started, from /proc; nullopt when it cannot be read.
std::optional<absl::Time> ProcessStart(pid_t pid) {
  std::ifstream stat_file(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');  // the command name may hold spaces
  if (paren == std::string::npos) return std::nullopt;
  // Fields after the name start at the 3rd; starttime is the 22nd.
  const std::vector<std::string> fields =
      absl::StrSplit(stat.substr(paren + 1), ' ', absl::SkipEmpty());
  int64_t ticks = 0;
  if (fields.size() < 20 || !absl::SimpleAtoi(fields[19], &ticks)) return std::nullopt;
  std::ifstream proc_stat("/proc/stat");
  std::string line;
  int64_t boot = 0;
  while (std::getline(proc_stat, line)) {
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, "btime ") && absl::SimpleAtoi(rest, &boot)) break;
  }
  const long hz = ::sysconf(_SC_CLK_TCK);
  if (boot == 0 || hz <= 0) return std::nullopt;
  return absl::FromUnixSeconds(boot) + absl::Seconds(ticks) / hz;
}

// The directory's process is gone: none with that pid, or one that started
// after the directory last changed, so it cannot have made it.
bool ProcessGone(pid_t pid, const struct stat& dir) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  const std::optional<absl::Time> started = ProcessStart(pid);
  return started.has_value() && *started > absl::TimeFromTimespec(dir.st_ctim) + kStartSlack;
}

// Removes the files in `name` (under `parent_fd`), then the directory.
bool RemoveDirectory(int parent_fd, const char* name) {
  const int fd = ::openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    ::close(fd);
    return false;
  }
  while (const dirent* entry = ::readdir(dir)) {
    if (std::strcmp(entry->d_name, ".") == 0 || std::strcmp(entry->d_name, "..") == 0) continue;
    ::unlinkat(fd, entry->d_name, 0);  // a subdirectory stays, and so does its parent
  }
  ::closedir(dir);
  return ::unlinkat(parent_fd, name, AT_REMOVEDIR) == 0;
}

}  // namespace

std::string BridgeParent() {
  const char* tmp = ::getenv("TMPDIR");
  return tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
}

absl::StatusOr<std::string> MakeBridgeDirectory(const std::string& parent) {
  std::string path = absl::StrCat(parent, "/", kPrefix, ::getpid(), "-XXXXXX");
  if (::mkdtemp(path.data()) == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("etcd TLS bridge: mkdtemp ", path, ": ", std::strerror(errno)));
  }
  return path;
}

std::vector<std::string> RemoveStaleBridgeDirectories(const std::string& parent) {
  std::vector<std::string> removed;
  const int parent_fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (parent_fd < 0) return removed;
  DIR* dir = ::fdopendir(::dup(parent_fd));
  if (dir == nullptr) {
    ::close(parent_fd);
    return removed;
  }
  std::vector<std::string> candidates;
  while (const dirent* entry = ::readdir(dir)) {
    if (absl::StartsWith(entry->d_name, kPrefix)) candidates.emplace_back(entry->d_name);
  }
  ::closedir(dir);
  for (const std::string& name : candidates) {
    const std::optional<pid_t> pid = PidOf(name);
    if (!pid.has_value() || *pid == ::getpid()) continue;
    struct stat st;
    if (::fstatat(parent_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode) ||
        st.st_uid != ::geteuid()) {
      continue;
    }
    if (!ProcessGone(*pid, st)) continue;
    if (RemoveDirectory(parent_fd, name.c_str())) removed.push_back(parent + "/" + name);
  }
  ::close(parent_fd);
  return removed;
}

}  // namespace palisade::control::state::etcd
