#include "proxy/forward/outbound_connection.h"

#include "absl/strings/str_cat.h"
#include "runtime/net/plain_transport.h"

namespace palisade::forward {

void OutboundConnection::Begin() {
  connect_who_ = "upstream";
  if (host_->snapshot() == nullptr) {
    Park();
    return;
  }
  OnIdentityAvailable();
}

void OutboundConnection::OnIdentityAvailable() {
  if (phase_ == Phase::kParked) {
    host_->Unpark(this);
    timer_.Cancel();
  }
  downstream_ = std::make_unique<net::PlainTransport>(std::move(accepted_));
  // One deadline for the lookup and the connect.
  timer_.Arm(listener_->connect_timeout);
  if (listener_->original_destination) {
    ConnectTo(original_destination_, "upstream");
    return;
  }
  if (listener_->upstream_address.has_value()) {
    ConnectTo(*listener_->upstream_address, "upstream");
    return;
  }
  phase_ = Phase::kResolving;
  resolving_ = host_->Resolve(listener_->upstream, [this](absl::StatusOr<net::SocketAddress> a) {
    resolving_.reset();
    if (phase_ != Phase::kResolving) return;  // closed meanwhile
    if (!a.ok()) {
      Close("upstream_unresolved");
      return;
    }
    ConnectTo(*a, "upstream");
  });
}

void OutboundConnection::OnConnected(net::UniqueFd fd) {
  if (!TakeUsableSnapshot()) return;
  BeginHandshake(std::move(fd), tls::Role::kClient, [this](SSL* ssl) { PrepareSsl(ssl); });
}

void OutboundConnection::PrepareSsl(SSL* ssl) {
  const std::string& host = listener_->upstream.host;
  if (!listener_->original_destination && !net::IsIpLiteral(host)) {
    SSL_set_tlsext_host_name(ssl, host.c_str());
  }
  if (!host_->resumption_enabled()) return;
  session_key_ = listener_->original_destination
                     ? absl::StrCat(listener_->name, "|", original_destination_.ToString())
                     : listener_->session_key;
  if (bssl::UniquePtr<SSL_SESSION> session = host_->TakeSession(session_key_)) {
    SSL_set_session(ssl, session.get());
  }
}

void OutboundConnection::OnNewSession(bssl::UniquePtr<SSL_SESSION> session) {
  if (!session_key_.empty() && peer().has_value()) {
    host_->StoreSession(session_key_, std::move(session), peer()->chain_not_after);
  }
}

}  // namespace palisade::forward
