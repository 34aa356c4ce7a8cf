#include "control/state/state_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "control/state/state_permissions.h"
#include "runtime/status/status_macros.h"

namespace palisade::control::state {
namespace {

absl::Status Errno(absl::string_view what, const std::string& path, int error_number) {
  return absl::FailedPreconditionError(
      absl::StrCat("state file ", path, ": ", what, ": ", std::strerror(error_number)));
}

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("write", path, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace

std::string JoinPath(absl::string_view dir, absl::string_view name) {
  if (dir.empty()) return std::string(name);
  if (dir.back() == '/') return absl::StrCat(dir, name);
  return absl::StrCat(dir, "/", name);
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents, mode_t mode) {
  const std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return Errno("create", tmp, errno);
  // The umask may have narrowed `mode`; keys must be exactly what was asked.
  if (::fchmod(fd, mode) != 0) {
    const int e = errno;
    ::close(fd);
    return Errno("chmod", tmp, e);
  }
  absl::Status written = WriteAll(fd, contents, tmp);
  if (written.ok() && ::fsync(fd) != 0) written = Errno("fsync", tmp, errno);
  if (::close(fd) != 0 && written.ok()) written = Errno("close", tmp, errno);
  if (!written.ok()) {
    ::unlink(tmp.c_str());
    return written;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return Errno("rename", path, e);
  }
  const std::string dir = DirectoryOf(path);
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return Errno("open directory", dir, errno);
  const int synced = ::fsync(dir_fd);
  const int e = errno;
  ::close(dir_fd);
  if (synced != 0) return Errno("fsync directory", dir, e);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadStateFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("state file ", path, ": missing"));
    return Errno("open", path, errno);
  }
  // Checked on the open descriptor: what is read is what was checked.
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    return Errno("fstat", path, e);
  }
  if (absl::Status s = CheckStateFileStat(path, st); !s.ok()) {
    ::close(fd);
    return s;
  }
  std::string out;
  char buffer[16 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      return Errno("read", path, e);
    }
    if (n == 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

namespace {

// mkdir -p: parents are created with `mode` too but are not the state's own.
absl::Status MakeDirectories(const std::string& path, mode_t mode) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat(path, ": exists and is not a directory"));
    }
    return absl::OkStatus();
  }
  const std::string parent = DirectoryOf(path);
  if (parent != path && parent != "." && parent != "/") {
    RETURN_IF_ERROR(MakeDirectories(parent, mode));
  }
  // mkdir's mode is narrowed by the umask, never widened, so `mode` is the most.
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": cannot create directory: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status EnsureDirectory(const std::string& path, mode_t mode) {
  RETURN_IF_ERROR(MakeDirectories(path, mode));
  return CheckStateDirectory(path);
}

}  // namespace palisade::control::state
