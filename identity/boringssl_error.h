// Converts BoringSSL's thread-local error queue into absl::Status messages at the
// call site, so every failure carries the library's own reason and the queue never
// leaks into an unrelated later call.
#ifndef PALISADE_IDENTITY_BORINGSSL_ERROR_H_
#define PALISADE_IDENTITY_BORINGSSL_ERROR_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace palisade {
namespace identity {

// Returns the queued BoringSSL errors, oldest first, joined by "; " (empty when the
// queue is empty), and clears the queue.
std::string DrainBoringSslErrors();

// A status with `code` and the message "<what>: <drained errors>" (or just
// "<what>" when the queue is empty). Clears the queue.
absl::Status BoringSslError(absl::StatusCode code, absl::string_view what);

// BoringSslError(kInternal, what): for calls that fail only on allocation failure
// or a bug.
absl::Status InternalBoringSslError(absl::string_view what);

}  // namespace identity
}  // namespace palisade

#endif  // PALISADE_IDENTITY_BORINGSSL_ERROR_H_
