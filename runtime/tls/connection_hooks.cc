#include "runtime/tls/connection_hooks.h"

namespace palisade::tls {
namespace {

int HooksIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

TlsConnectionHooks* HooksOf(const SSL* ssl) {
  return static_cast<TlsConnectionHooks*>(SSL_get_ex_data(ssl, HooksIndex()));
}

ssl_verify_result_t VerifyTrampoline(SSL* ssl, uint8_t* out_alert) {
  TlsConnectionHooks* hooks = HooksOf(ssl);
  if (hooks == nullptr) {
    *out_alert = SSL_AD_INTERNAL_ERROR;
    return ssl_verify_invalid;  // deny unless verified
  }
  return hooks->VerifyPeer(ssl, out_alert);
}

int NewSessionTrampoline(SSL* ssl, SSL_SESSION* session) {
  TlsConnectionHooks* hooks = HooksOf(ssl);
  if (hooks == nullptr) return 0;
  hooks->OnNewClientSession(bssl::UniquePtr<SSL_SESSION>(session));
  return 1;  // we took the reference
}

}  // namespace

void AttachHooks(SSL* ssl, TlsConnectionHooks* hooks) { SSL_set_ex_data(ssl, HooksIndex(), hooks); }

void InstallVerifyTrampoline(SSL_CTX* ctx, int verify_mode) {
  SSL_CTX_set_custom_verify(ctx, verify_mode, &VerifyTrampoline);
}

void InstallNewSessionTrampoline(SSL_CTX* ctx) {
  SSL_CTX_sess_set_new_cb(ctx, &NewSessionTrampoline);
}

}  // namespace palisade::tls
