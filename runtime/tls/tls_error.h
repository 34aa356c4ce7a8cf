// Why a TLS handshake or connection failed, as the reason codes used in
// metrics and logs ("no_certificate", "protocol_version", "not_tls", ...).
#ifndef PALISADE_RUNTIME_TLS_TLS_ERROR_H_
#define PALISADE_RUNTIME_TLS_TLS_ERROR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace palisade::tls {

// Reason code for a packed BoringSSL error (ERR_get_error()).
const char* ReasonForSslError(uint32_t packed_error);

// Every value ReasonForSslError gives (found by asking it about every SSL
// reason code), e.g. to create metric series at zero.
std::vector<std::string> KnownSslErrorReasons();

// Drains BoringSSL's error queue of this thread into one line for logs,
// returning the code of the first (most specific) error, 0 when empty.
uint32_t DrainErrorQueue(std::string* detail);

// InvalidArgument "<what>: <BoringSSL's error queue>", draining the queue:
// how a failed BoringSSL call becomes a Status at its call site.
absl::Status SslFailure(absl::string_view what);

}  // namespace palisade::tls

#endif  // PALISADE_RUNTIME_TLS_TLS_ERROR_H_
