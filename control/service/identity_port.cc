#include "control/service/identity_port.h"

#include "absl/strings/str_cat.h"
#include "runtime/log/logging.h"
#include "runtime/status/status_macros.h"
#include "runtime/tls/context_setup.h"

namespace palisade::control::service {

absl::StatusOr<std::unique_ptr<IdentityPort>> IdentityPort::Create(
    Options options, PeerTable* peers, metrics::ControlMetrics* metrics) {
  tls::TlsTerminator::Options terminator;
  terminator.listen = options.listen;
  terminator.backend = options.backend;
  terminator.client_certificates = tls::PeerCertificates::kOptional;
  terminator.expected_trust_domain = options.trust_domain;
  terminator.clock_skew = options.clock_skew;
  terminator.handshake_timeout = options.handshake_timeout;
  terminator.max_connections = options.max_connections;
  terminator.thread_name = "palisade-tls";
  terminator.clock = options.clock;

  tls::TlsTerminator::Events events;
  events.on_handshake = [metrics](const tls::HandshakeResult& result,
                                  const net::SocketAddress& remote) {
    const std::string outcome =
        result.ok ? (result.peer.anonymous() ? "ok_no_certificate" : "ok_svid") : result.reason;
    if (metrics != nullptr) metrics->OnHandshake(outcome);
    if (!result.ok && log::ShouldLog(log::Level::kDebug, "control")) {
      log::LogEvent(
          log::Level::kDebug, "control", "identity port handshake failed",
          {{"remote", remote.ToString()}, {"reason", result.reason}, {"detail", result.detail}});
    }
  };
  events.on_forward = [peers](const net::SocketAddress& forwarder, const verify::PeerVerdict& peer,
                              const net::SocketAddress& remote) {
    PeerIdentity identity;
    if (peer.svid.has_value()) {
      identity.spiffe_id = peer.svid->spiffe_id;
      identity.serial = peer.svid->leaf_serial;
      identity.root_fingerprint = peer.svid->root_fingerprint;
      identity.not_after = peer.svid->leaf_not_after;
    }
    identity.remote_address = remote.ToString();
    peers->Add(PeerTable::KeyFor(forwarder), std::move(identity));
  };
  events.on_forward_end = [peers](const net::SocketAddress& forwarder) {
    peers->Remove(PeerTable::KeyFor(forwarder));
  };
  events.on_refused = [metrics](absl::string_view reason) {
    if (metrics != nullptr) metrics->OnHandshake(absl::StrCat("refused_", reason));
  };

  absl::StatusOr<std::unique_ptr<tls::TlsTerminator>> created =
      tls::TlsTerminator::Create(std::move(terminator), std::move(events));
  if (!created.ok()) {
    return absl::Status(created.status().code(),
                        absl::StrCat("identity port ", options.listen.ToString(), ": ",
                                     created.status().message()));
  }
  std::unique_ptr<IdentityPort> port(new IdentityPort());
  port->terminator_ = *std::move(created);
  return port;
}

absl::Status IdentityPort::SetCredentials(const std::vector<X509*>& chain, EVP_PKEY* key,
                                          identity::TrustBundleSet bundles) {
  tls::ContextOptions context;
  context.role = tls::Role::kServer;
  context.chain = chain;
  context.key = key;
  context.peer_certificates = tls::PeerCertificates::kOptional;
  auto credentials = std::make_shared<tls::TlsTerminator::Credentials>();
  ASSIGN_OR_RETURN(credentials->context, tls::NewContext(context));
  credentials->bundles = std::move(bundles);
  terminator_->SetCredentials(std::move(credentials));
  return absl::OkStatus();
}

}  // namespace palisade::control::service
