#include "proxy/identity_client/testing/test_tls_server.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "runtime/net/socket_address.h"
#include "runtime/status/status_macros.h"

namespace palisade::identity_client::testing {

absl::StatusOr<std::unique_ptr<TestTlsServer>> TestTlsServer::Start(Options options) {
  std::unique_ptr<TestTlsServer> server(new TestTlsServer());
  TestTlsServer* self = server.get();
  tls::TlsTerminator::Options terminator;
  ASSIGN_OR_RETURN(terminator.listen,
                   net::SocketAddress::Parse(absl::StrCat("127.0.0.1:", options.port)));
  ASSIGN_OR_RETURN(terminator.backend, net::SocketAddress::Parse(options.backend));
  terminator.client_certificates = options.client_certs;
  terminator.backlog = 1024;
  terminator.thread_name = "test-tls-server";
  tls::TlsTerminator::Events events;
  events.on_handshake = [self](const tls::HandshakeResult& result, const net::SocketAddress&) {
    sync::MutexLock lock(&self->mutex_);
    if (result.ok) {
      ++self->handshakes_ok_;
    } else {
      self->failures_.push_back(result.reason);
    }
  };
  events.on_forward = [self](const net::SocketAddress& forwarder, const verify::PeerVerdict& peer,
                             const net::SocketAddress&) {
    sync::MutexLock lock(&self->mutex_);
    self->peers_[forwarder.port()] = peer.svid.has_value() ? peer.svid->spiffe_id.ToString() : "";
  };
  ASSIGN_OR_RETURN(server->terminator_,
                   tls::TlsTerminator::Create(std::move(terminator), std::move(events)));

  tls::ContextOptions context;
  context.role = tls::Role::kServer;
  context.chain = options.chain;
  context.key = options.key;
  context.max_version = options.max_tls_version;
  context.peer_certificates = options.client_certs;
  auto credentials = std::make_shared<tls::TlsTerminator::Credentials>();
  absl::StatusOr<bssl::UniquePtr<SSL_CTX>> ctx = tls::NewContext(context);
  if (!ctx.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("test TLS server context: ", ctx.status().message()));
  }
  credentials->context = *std::move(ctx);
  credentials->bundles = std::move(options.client_bundles);
  server->terminator_->SetCredentials(std::move(credentials));
  RETURN_IF_ERROR(server->terminator_->Start());
  return server;
}

std::optional<std::string> TestTlsServer::ClientIdOfGrpcPeer(const std::string& peer) const {
  const size_t colon = peer.rfind(':');
  uint32_t port = 0;
  if (!absl::StartsWith(peer, "ipv4:127.0.0.1:") || colon == std::string::npos ||
      !absl::SimpleAtoi(peer.substr(colon + 1), &port)) {
    return std::nullopt;
  }
  sync::MutexLock lock(&mutex_);
  auto it = peers_.find(static_cast<uint16_t>(port));
  if (it == peers_.end()) return std::nullopt;
  return it->second;
}

int TestTlsServer::handshakes_ok() const {
  sync::MutexLock lock(&mutex_);
  return handshakes_ok_;
}

std::vector<std::string> TestTlsServer::handshake_failures() const {
  sync::MutexLock lock(&mutex_);
  return failures_;
}

}  // namespace palisade::identity_client::testing
