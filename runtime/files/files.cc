#include "runtime/files/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace palisade::files {
namespace {

std::string Named(absl::string_view what, const std::string& path, absl::string_view problem) {
  return absl::StrCat(what, what.empty() ? "" : " ", "\"", absl::CHexEscape(path), "\": ", problem);
}

absl::Status OsError(absl::string_view what, const std::string& path, absl::string_view call,
                     int error) {
  const std::string message = Named(what, path, absl::StrCat(call, ": ", std::strerror(error)));
  if (error == ENOENT) return absl::NotFoundError(message);
  return absl::FailedPreconditionError(message);
}

// Closes the descriptor on every return path.
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// 0, or the errno of the write that failed.
int WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return 0;
}

}  // namespace

absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents, mode_t mode,
                                 absl::string_view what) {
  const std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  absl::Status written;
  {
    const ScopedFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
    if (fd.get() < 0) return OsError(what, tmp, "cannot create", errno);
    // The umask may have narrowed `mode`; a secret's file must be exactly it.
    if (::fchmod(fd.get(), mode) != 0) {
      written = OsError(what, tmp, "cannot chmod", errno);
    } else if (const int error = WriteAll(fd.get(), contents); error != 0) {
      written = OsError(what, tmp, "cannot write", error);
    } else if (::fsync(fd.get()) != 0) {
      written = OsError(what, tmp, "cannot fsync", errno);
    }
  }
  if (written.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    written = OsError(what, path, "cannot rename the temporary file over it", errno);
  }
  if (!written.ok()) {
    ::unlink(tmp.c_str());
    return written;
  }
  const std::string dir = DirectoryOf(path);
  const ScopedFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0) return OsError(what, dir, "cannot open the directory", errno);
  if (::fsync(dir_fd.get()) != 0) return OsError(what, dir, "cannot fsync the directory", errno);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, absl::string_view what,
                                          size_t max_bytes) {
  // O_NONBLOCK: a FIFO named by mistake must not hang the caller; it is
  // refused below as not a regular file.
  const ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) return OsError(what, path, "cannot open", errno);
  struct stat info;
  if (::fstat(fd.get(), &info) != 0) return OsError(what, path, "cannot stat", errno);
  if (S_ISDIR(info.st_mode)) {
    return absl::InvalidArgumentError(Named(what, path, "is a directory, not a file"));
  }
  if (!S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(Named(what, path, "is not a regular file"));
  }
  std::string contents;
  char buffer[16 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return OsError(what, path, "cannot read", errno);
    if (n == 0) break;
    if (contents.size() + static_cast<size_t>(n) > max_bytes) {
      return absl::InvalidArgumentError(Named(
          what, path, absl::StrCat("is larger than ", max_bytes, " bytes; is it the right file?")));
    }
    contents.append(buffer, static_cast<size_t>(n));
  }
  return contents;
}

}  // namespace palisade::files
