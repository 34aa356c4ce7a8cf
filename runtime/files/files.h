// Reading the small files a process is configured with: certificate chains,
// keys, trust bundles, tokens, JWKS documents. One reader so every caller
// refuses the same mistakes (a directory, a FIFO, a runaway file) with the
// same words. And replacing a small file atomically, for the few a process
// writes itself (a token it was given).
#ifndef PALISADE_RUNTIME_FILES_FILES_H_
#define PALISADE_RUNTIME_FILES_FILES_H_

#include <sys/types.h>

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace palisade::files {

// Far above any real bundle (thousands of certificates), far below memory trouble.
inline constexpr size_t kMaxSmallFileBytes = 4 << 20;

// The whole of the regular file at `path` (symlinks followed). Never waits on
// a FIFO. Errors read `<what> "<path>": <problem>`, `what` naming the file's
// role (a config field or flag): NotFound when it does not exist,
// InvalidArgument when it is not a regular file or holds more than
// `max_bytes`, FailedPrecondition for other OS errors (with strerror).
absl::StatusOr<std::string> ReadSmallFile(const std::string& path, absl::string_view what,
                                          size_t max_bytes = kMaxSmallFileBytes);

// Replaces `path` with `contents` so that a crash leaves the old or the new
// file, never a mix: writes "<path>.tmp" created with exactly `mode` (0600
// for secrets, whatever the umask), fsyncs it, renames it over `path` and
// fsyncs the directory. Errors name the file as ReadSmallFile's do, and say
// which call failed; the temporary file is removed.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents, mode_t mode,
                                 absl::string_view what);

}  // namespace palisade::files

#endif  // PALISADE_RUNTIME_FILES_FILES_H_
