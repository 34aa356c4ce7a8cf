#include "runtime/tls/tls_context.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/tls/context_setup.h"

namespace palisade::tls {

absl::StatusOr<std::shared_ptr<const TlsContext>> TlsContext::Create(
    const std::vector<X509*>& chain, EVP_PKEY* key, const TlsSettings& settings,
    std::shared_ptr<TicketKeyRing> ticket_keys) {
  std::shared_ptr<TlsContext> context(new TlsContext());
  const bool resume = settings.session_resumption && ticket_keys != nullptr;
  if (resume) context->ticket_keys_ = std::move(ticket_keys);
  ContextOptions options;
  options.chain = chain;
  options.key = key;
  options.min_version = settings.min_version;
  // Every peer must present a certificate that our own code verifies.
  options.peer_certificates = PeerCertificates::kRequired;
  for (Role role : {Role::kServer, Role::kClient}) {
    options.role = role;
    options.ticket_keys = role == Role::kServer ? context->ticket_keys_.get() : nullptr;
    options.client_sessions = role == Role::kClient && resume;
    absl::StatusOr<bssl::UniquePtr<SSL_CTX>> ctx = NewContext(options);
    if (!ctx.ok()) {
      return absl::Status(ctx.status().code(), absl::StrCat("SVID: ", ctx.status().message()));
    }
    (role == Role::kServer ? context->server_ : context->client_) = *std::move(ctx);
  }
  return std::shared_ptr<const TlsContext>(std::move(context));
}

namespace {

// An established connection never reads its own configuration again (the
// snapshot it started with stays alive in the connection): let BoringSSL free
// its per-SSL copy of it (certificate chain, key, cipher and group lists) once
// the handshake is done, so an idle connection holds only what the session
// needs. Renegotiation stays off (BoringSSL's default), as shedding requires.
void ShedConfigAfterHandshake(SSL* ssl) { SSL_set_shed_handshake_config(ssl, 1); }

}  // namespace

bssl::UniquePtr<SSL> TlsContext::NewServerSsl() const {
  bssl::UniquePtr<SSL> ssl(SSL_new(server_.get()));
  if (ssl) {
    SSL_set_accept_state(ssl.get());
    ShedConfigAfterHandshake(ssl.get());
  }
  return ssl;
}

bssl::UniquePtr<SSL> TlsContext::NewClientSsl() const {
  bssl::UniquePtr<SSL> ssl(SSL_new(client_.get()));
  if (ssl) {
    SSL_set_connect_state(ssl.get());
    ShedConfigAfterHandshake(ssl.get());
  }
  return ssl;
}

}  // namespace palisade::tls
