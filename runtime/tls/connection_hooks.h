// The callbacks BoringSSL makes into the object that owns an SSL: the
// peer's certificate to judge, and a new client session to keep. One ex_data
// slot on each SSL points back to its owner, reached through static
// trampolines that every context built by NewContext installs.
#ifndef PALISADE_RUNTIME_TLS_CONNECTION_HOOKS_H_
#define PALISADE_RUNTIME_TLS_CONNECTION_HOOKS_H_

#include <openssl/ssl.h>

#include <cstdint>

namespace palisade::tls {

class TlsConnectionHooks {
 public:
  virtual ~TlsConnectionHooks() = default;
  // Called once with the peer's chain during a full handshake; ssl_verify_ok
  // continues, ssl_verify_invalid aborts with *out_alert.
  virtual ssl_verify_result_t VerifyPeer(SSL* ssl, uint8_t* out_alert) = 0;
  // A client session to offer on the next connection to the same server.
  virtual void OnNewClientSession(bssl::UniquePtr<SSL_SESSION> session) {}
};

// `hooks` must outlive `ssl` (or be detached with nullptr first). An SSL
// without hooks refuses every peer: deny unless verified.
void AttachHooks(SSL* ssl, TlsConnectionHooks* hooks);

// For NewContext: route `ctx`'s verification (with `verify_mode`'s
// SSL_VERIFY_* flags) and its new client sessions to each SSL's hooks.
void InstallVerifyTrampoline(SSL_CTX* ctx, int verify_mode);
void InstallNewSessionTrampoline(SSL_CTX* ctx);

}  // namespace palisade::tls

#endif  // PALISADE_RUNTIME_TLS_CONNECTION_HOOKS_H_
