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

}  // namespace

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
