// Who may have written the state directory: only the service user. Another
// user able to plant or edit a file there (tokens.json, a CA key) could make
// the CA issue any identity, so such a directory or file is refused.
#ifndef PALISADE_CONTROL_STATE_STATE_PERMISSIONS_H_
#define PALISADE_CONTROL_STATE_STATE_PERMISSIONS_H_

#include <sys/stat.h>

#include <string>

#include "absl/status/status.h"

namespace palisade::control::state {

// OK when `st` (of the directory at `path`) is a directory owned by the
// effective uid and not group- or world-writable; otherwise PermissionDenied
// naming the path, the problem and the fix (FailedPrecondition when it is not a
// directory at all).
absl::Status CheckStateDirectoryStat(const std::string& path, const struct stat& st);

// As CheckStateDirectoryStat for a regular file the control plane loads or
// appends to (fstat it once opened, so the check and the use see one file).
absl::Status CheckStateFileStat(const std::string& path, const struct stat& st);

// Stats `path` and applies CheckStateDirectoryStat.
absl::Status CheckStateDirectory(const std::string& path);

}  // namespace palisade::control::state

#endif  // PALISADE_CONTROL_STATE_STATE_PERMISSIONS_H_
