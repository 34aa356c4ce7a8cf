// The one place an SSL_CTX is built, for every Palisade TLS endpoint: the
// proxy's listeners and upstreams, the control-plane client, the control
// plane's identity port and its admission webhook, and test servers. They
// share the protocol policy, and peer verification always goes to our own
// code (connection_hooks.h), never to BoringSSL's or OpenSSL's built-in one.
#ifndef PALISADE_RUNTIME_TLS_CONTEXT_SETUP_H_
#define PALISADE_RUNTIME_TLS_CONTEXT_SETUP_H_

#include <openssl/ssl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/tls/ticket_key_ring.h"

namespace palisade::tls {

enum class Role { kServer, kClient };

// What a server asks of its clients. A client always verifies its server.
enum class PeerCertificates { kNotRequested, kOptional, kRequired };

struct ContextOptions {
  Role role = Role::kServer;
  // What we present: the leaf first, then intermediates, and the leaf's key.
  // Required for a server; a client without one does not authenticate.
  std::vector<X509*> chain;
  EVP_PKEY* key = nullptr;
  uint16_t min_version = TLS1_2_VERSION;  // never lower
  uint16_t max_version = TLS1_3_VERSION;
  PeerCertificates peer_certificates = PeerCertificates::kRequired;  // servers only
  // Client: the ALPN protocols to offer, in wire format ("\x02h2").
  std::string alpn;
  // Resumption. Server: stateless tickets under this ring, which must outlive
  // the context (null: no tickets). Client: new sessions go to the hooks.
  TicketKeyRing* ticket_keys = nullptr;
  bool client_sessions = false;
};

// InvalidArgument naming what is wrong (an empty chain for a server, a key
// that is not the leaf's, a version BoringSSL refuses).
absl::StatusOr<bssl::UniquePtr<SSL_CTX>> NewContext(const ContextOptions& options);

// The pieces NewContext is made of.
// TLS 1.2 minimum (`min_version` may raise it, never lower it), `max_version`
// (at most TLS 1.3), key exchange on X25519 or P-256, BoringSSL's default ciphers.
absl::Status ApplyProtocolPolicy(SSL_CTX* ctx, uint16_t min_version,
                                 uint16_t max_version = TLS1_3_VERSION);
// Presents `chain` (leaf first, then intermediates) with the leaf's `key`.
// InvalidArgument when the chain is empty or the key does not match the
// leaf, or naming what BoringSSL refused.
absl::Status UseCertificateChain(SSL_CTX* ctx, absl::Span<X509* const> chain, EVP_PKEY* key);

}  // namespace palisade::tls

#endif  // PALISADE_RUNTIME_TLS_CONTEXT_SETUP_H_
