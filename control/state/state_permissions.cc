#include "control/state/state_permissions.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace palisade::control::state {
namespace {

// `kind` is "state directory" or "state file".
absl::Status CheckOwnerAndMode(absl::string_view kind, const std::string& path,
                               const struct stat& st) {
  const uid_t service_uid = ::geteuid();
  if (st.st_uid != service_uid) {
    return absl::PermissionDeniedError(
        absl::StrCat(kind, " ", path, ": owned by uid ", st.st_uid, ", not the service user (uid ",
                     service_uid, "); another user may have planted it; refusing to start"));
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "%s %s: mode %04o is group- or world-writable, so another user could plant or edit "
        "state; refusing to start (chmod go-w %s)",
        kind, path, st.st_mode & 07777, path));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckStateDirectoryStat(const std::string& path, const struct stat& st) {
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(path, ": exists and is not a directory"));
  }
  return CheckOwnerAndMode("state directory", path, st);
}

absl::Status CheckStateFileStat(const std::string& path, const struct stat& st) {
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat("state file ", path, ": not a regular file"));
  }
  return CheckOwnerAndMode("state file", path, st);
}

absl::Status CheckStateDirectory(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("state directory ", path, ": ", std::strerror(errno)));
  }
  return CheckStateDirectoryStat(path, st);
}

}  // namespace palisade::control::state
