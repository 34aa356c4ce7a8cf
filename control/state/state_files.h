// Durable files in the control plane's state directory: atomic replacement
// (temporary file, fsync, rename, directory fsync) so a crash leaves either the
// old or the new content, and reads whose errors name the file and the problem.
#ifndef PALISADE_CONTROL_STATE_STATE_FILES_H_
#define PALISADE_CONTROL_STATE_STATE_FILES_H_

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace palisade::control::state {

// Replaces `path` with `contents`, created with `mode` (0600 for keys and
// secrets). Writes "<path>.tmp", fsyncs it, renames it over `path` and fsyncs
// the directory. Errors name the file and the failing call.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents, mode_t mode);

// The whole of `path`. NotFound when it does not exist; other failures are
// FailedPrecondition; both name the file. A file not owned by the service user,
// group- or world-writable is PermissionDenied (state_permissions.h).
absl::StatusOr<std::string> ReadStateFile(const std::string& path);

bool PathExists(const std::string& path);

// Creates `path` (and its parents) with `mode` if missing; FailedPrecondition
// naming the path if it exists and is not a directory or cannot be made, or if
// `path` itself is not the service user's or is group- or world-writable.
absl::Status EnsureDirectory(const std::string& path, mode_t mode);

// "<dir>/<name>".
std::string JoinPath(absl::string_view dir, absl::string_view name);

}  // namespace palisade::control::state

#endif  // PALISADE_CONTROL_STATE_STATE_FILES_H_
