// The SSL_CTXs for one identity: a server context that demands a client
// certificate and a client context that presents the SVID. Both hand peer
// verification to the connection that owns each SSL (TlsConnectionHooks), so
// one context serves every listener and policy.
#ifndef PALISADE_RUNTIME_TLS_TLS_CONTEXT_H_
#define PALISADE_RUNTIME_TLS_TLS_CONTEXT_H_

#include <openssl/ssl.h>

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/tls/ticket_key_ring.h"

namespace palisade::tls {

struct TlsSettings {
  uint16_t min_version = TLS1_2_VERSION;  // never lower
  bool session_resumption = true;
};

// What the SSL_CTX callbacks need from the connection an SSL belongs to.
class TlsConnectionHooks {
 public:
  virtual ~TlsConnectionHooks() = default;
  // Called once with the peer's chain during a full handshake; ssl_verify_ok
  // continues, ssl_verify_invalid aborts with *out_alert.
  virtual ssl_verify_result_t VerifyPeer(SSL* ssl, uint8_t* out_alert) = 0;
  // A client session to offer on the next connection to the same upstream.
  virtual void OnNewClientSession(bssl::UniquePtr<SSL_SESSION> session) {}
};

void AttachHooks(SSL* ssl, TlsConnectionHooks* hooks);

// For a server SSL whose peers may send no certificate (the control plane's
// identity port: a proxy's first contact has none). A certificate that is
// sent still goes to the hooks' VerifyPeer.
void MakeClientCertificateOptional(SSL* ssl);

// Immutable once built; shared by all workers.
class TlsContext {
 public:
  // `chain` is the SVID leaf first, then intermediates; `key` the leaf's key.
  // `ticket_keys` may be null when resumption is off; it must outlive this.
  static absl::StatusOr<std::shared_ptr<const TlsContext>> Create(
      const std::vector<X509*>& chain, EVP_PKEY* key, const TlsSettings& settings,
      std::shared_ptr<TicketKeyRing> ticket_keys);

  bssl::UniquePtr<SSL> NewServerSsl() const;
  bssl::UniquePtr<SSL> NewClientSsl() const;
  SSL_CTX* server_ctx() const { return server_.get(); }
  SSL_CTX* client_ctx() const { return client_.get(); }

 private:
  TlsContext() = default;
  bssl::UniquePtr<SSL_CTX> server_;
  bssl::UniquePtr<SSL_CTX> client_;
  std::shared_ptr<TicketKeyRing> ticket_keys_;
};

}  // namespace palisade::tls

#endif  // PALISADE_RUNTIME_TLS_TLS_CONTEXT_H_
