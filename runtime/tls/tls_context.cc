#include "runtime/tls/tls_context.h"

#include <openssl/err.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/tls/context_setup.h"
#include "runtime/tls/tls_error.h"

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

absl::Status SslFailure(absl::string_view what) {
  std::string detail;
  DrainErrorQueue(&detail);
  return absl::InvalidArgumentError(absl::StrCat(what, ": ", detail));
}

}  // namespace

void AttachHooks(SSL* ssl, TlsConnectionHooks* hooks) { SSL_set_ex_data(ssl, HooksIndex(), hooks); }

void MakeClientCertificateOptional(SSL* ssl) {
  SSL_set_custom_verify(ssl, SSL_VERIFY_PEER, &VerifyTrampoline);
}

absl::StatusOr<std::shared_ptr<const TlsContext>> TlsContext::Create(
    const std::vector<X509*>& chain, EVP_PKEY* key, const TlsSettings& settings,
    std::shared_ptr<TicketKeyRing> ticket_keys) {
  std::shared_ptr<TlsContext> context(new TlsContext());
  context->server_.reset(SSL_CTX_new(TLS_method()));
  context->client_.reset(SSL_CTX_new(TLS_method()));
  if (!context->server_ || !context->client_) return SslFailure("SSL_CTX_new");
  SSL_CTX* server = context->server_.get();
  SSL_CTX* client = context->client_.get();
  for (SSL_CTX* ctx : {server, client}) {
    if (absl::Status s = ApplyProtocolPolicy(ctx, settings.min_version); !s.ok()) return s;
    if (absl::Status s = UseCertificateChain(ctx, chain, key); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("SVID: ", s.message()));
    }
  }

  // Every peer must present a certificate that our own code verifies.
  SSL_CTX_set_custom_verify(server, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                            &VerifyTrampoline);
  SSL_CTX_set_custom_verify(client, SSL_VERIFY_PEER, &VerifyTrampoline);

  // Stateless tickets only: no server-side session cache to lock or grow.
  SSL_CTX_set_session_cache_mode(server, SSL_SESS_CACHE_OFF);
  if (settings.session_resumption && ticket_keys != nullptr) {
    ticket_keys->InstallOn(server);
    SSL_CTX_set_num_tickets(server, 1);
    SSL_CTX_set_timeout(server,
                        static_cast<uint32_t>(absl::ToInt64Seconds(2 * ticket_keys->rotation())));
    SSL_CTX_set_session_cache_mode(client, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(client, &NewSessionTrampoline);
    context->ticket_keys_ = std::move(ticket_keys);
  } else {
    SSL_CTX_set_options(server, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(server, 0);
    SSL_CTX_set_session_cache_mode(client, SSL_SESS_CACHE_OFF);
  }
  return std::shared_ptr<const TlsContext>(std::move(context));
}

bssl::UniquePtr<SSL> TlsContext::NewServerSsl() const {
  bssl::UniquePtr<SSL> ssl(SSL_new(server_.get()));
  if (ssl) SSL_set_accept_state(ssl.get());
  return ssl;
}

bssl::UniquePtr<SSL> TlsContext::NewClientSsl() const {
  bssl::UniquePtr<SSL> ssl(SSL_new(client_.get()));
  if (ssl) SSL_set_connect_state(ssl.get());
  return ssl;
}

}  // namespace palisade::tls
