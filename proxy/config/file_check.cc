#include "proxy/config/file_check.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace palisade::config {
namespace {

// Enough to find a PEM header in any sane certificate bundle.
constexpr size_t kMaxBytesRead = 1 << 20;

std::string Quote(absl::string_view text) {
  return absl::StrCat("\"", absl::CHexEscape(text), "\"");
}

absl::Status ReadPrefix(const std::string& file, std::string* contents) {
  // O_NONBLOCK: a FIFO named by mistake must not hang the loader.
  const int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int error = errno;
    return absl::ErrnoToStatus(error, absl::StrCat("cannot open ", Quote(file)));
  }
  struct stat info;
  absl::Status status;
  if (fstat(fd, &info) != 0) {
    const int error = errno;
    status = absl::ErrnoToStatus(error, absl::StrCat("cannot stat ", Quote(file)));
  } else if (S_ISDIR(info.st_mode)) {
    status = absl::InvalidArgumentError(absl::StrCat(Quote(file), " is a directory, not a file"));
  } else if (!S_ISREG(info.st_mode)) {
    status = absl::InvalidArgumentError(absl::StrCat(Quote(file), " is not a regular file"));
  } else {
    contents->resize(kMaxBytesRead);
    size_t filled = 0;
    while (filled < contents->size()) {
      const ssize_t n = read(fd, contents->data() + filled, contents->size() - filled);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int error = errno;
        status = absl::ErrnoToStatus(error, absl::StrCat("cannot read ", Quote(file)));
        break;
      }
      if (n == 0) break;
      filled += n;
    }
    contents->resize(filled);
  }
  close(fd);
  return status;
}

}  // namespace

absl::Status CheckConfigFile(const std::string& file, FileKind kind) {
  std::string contents;
  if (absl::Status status = ReadPrefix(file, &contents); !status.ok()) return status;
  if (kind == FileKind::kToken) {
    if (!absl::StripAsciiWhitespace(contents).empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(Quote(file), " is empty"));
  }
  if (!absl::StrContains(contents, "-----BEGIN")) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(file), " does not look like PEM (no \"-----BEGIN\" line)"));
  }
  const bool has_certificate = absl::StrContains(contents, "-----BEGIN CERTIFICATE-----");
  const bool has_key = absl::StrContains(contents, "PRIVATE KEY-----");
  if (kind == FileKind::kCertificates && !has_certificate) {
    return absl::InvalidArgumentError(absl::StrCat(
        Quote(file), " holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")",
        has_key ? "; it holds a private key: are the key and certificate files swapped?" : ""));
  }
  if (kind == FileKind::kPrivateKey && !has_key) {
    return absl::InvalidArgumentError(absl::StrCat(
        Quote(file), " holds no PEM private key (\"-----BEGIN ... PRIVATE KEY-----\")",
        has_certificate ? "; it holds a certificate: are the key and certificate files swapped?"
                        : ""));
  }
  return absl::OkStatus();
}

}  // namespace palisade::config
