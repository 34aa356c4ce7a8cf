// The settings every Palisade TLS endpoint shares, in one place: the proxy's
// listeners and upstreams, the control-plane client, the control plane's
// identity port and its admission webhook.
#ifndef PALISADE_RUNTIME_TLS_CONTEXT_SETUP_H_
#define PALISADE_RUNTIME_TLS_CONTEXT_SETUP_H_

#include <openssl/ssl.h>

#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace palisade::tls {

// TLS 1.2 minimum (`min_version` may raise it, never lower it), TLS 1.3
// maximum, key exchange on X25519 or P-256, BoringSSL's default ciphers.
absl::Status ApplyProtocolPolicy(SSL_CTX* ctx, uint16_t min_version);

// Presents `chain` (leaf first, then intermediates) with the leaf's `key`.
// InvalidArgument when the chain is empty or the key does not match the
// leaf, or naming what BoringSSL refused.
absl::Status UseCertificateChain(SSL_CTX* ctx, absl::Span<X509* const> chain, EVP_PKEY* key);

}  // namespace palisade::tls

#endif  // PALISADE_RUNTIME_TLS_CONTEXT_SETUP_H_
