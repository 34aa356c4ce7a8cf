// The SSL_CTXs for one SVID: a server context that demands a client
// certificate and a client context that presents the SVID, both built by
// NewContext. Peer verification goes to the connection that owns each SSL
// (TlsConnectionHooks), so one context serves every listener and policy.
#ifndef PALISADE_RUNTIME_TLS_TLS_CONTEXT_H_
#define PALISADE_RUNTIME_TLS_TLS_CONTEXT_H_

#include <openssl/ssl.h>

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/tls/connection_hooks.h"
#include "runtime/tls/ticket_key_ring.h"

namespace palisade::tls {

struct TlsSettings {
  uint16_t min_version = TLS1_2_VERSION;  // never lower
  bool session_resumption = true;
};

// Immutable once built; shared by all workers.
class TlsContext {
 public:
  // `chain` is the SVID leaf first, then intermediates; `key` the leaf's key.
  // `ticket_keys` may be null when resumption is off.
  static absl::StatusOr<std::shared_ptr<const TlsContext>> Create(
      const std::vector<X509*>& chain, EVP_PKEY* key, const TlsSettings& settings,
      std::shared_ptr<TicketKeyRing> ticket_keys);

  bssl::UniquePtr<SSL> NewServerSsl() const;
  bssl::UniquePtr<SSL> NewClientSsl() const;
  SSL_CTX* server_ctx() const { return server_.get(); }
  SSL_CTX* client_ctx() const { return client_.get(); }

 private:
  TlsContext() = default;
  // Declared first: the contexts hold a pointer to it and go before it.
  std::shared_ptr<TicketKeyRing> ticket_keys_;
  bssl::UniquePtr<SSL_CTX> server_;
  bssl::UniquePtr<SSL_CTX> client_;
};

}  // namespace palisade::tls

#endif  // PALISADE_RUNTIME_TLS_TLS_CONTEXT_H_
