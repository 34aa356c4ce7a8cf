#include "proxy/config/file_check.h"

#include <sys/stat.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "runtime/files/files.h"
#include "runtime/status/status_macros.h"

namespace palisade::config {
namespace {

std::string Quote(absl::string_view text) {
  return absl::StrCat("\"", absl::CHexEscape(text), "\"");
}

}  // namespace

absl::Status CheckConfigFile(const std::string& file, FileKind kind) {
  if (kind == FileKind::kWrittenByProxy) {
    if (const absl::Status read = files::ReadSmallFile(file, "").status();
        !absl::IsNotFound(read)) {
      return read;
    }
    const size_t slash = file.rfind('/');
    const std::string dir =
        slash == std::string::npos ? "." : file.substr(0, slash == 0 ? 1 : slash);
    struct stat info;
    if (::stat(dir.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
      return absl::InvalidArgumentError(absl::StrCat(
          Quote(file), " cannot be written: its directory ", Quote(dir), " does not exist"));
    }
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(const std::string contents, files::ReadSmallFile(file, ""));
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
