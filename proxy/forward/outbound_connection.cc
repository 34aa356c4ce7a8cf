#include "proxy/forward/outbound_connection.h"

#include <openssl/err.h>

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
    ConnectUpstream(original_destination_);
    return;
  }
  if (listener_->upstream_address.has_value()) {
    ConnectUpstream(*listener_->upstream_address);
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
    ConnectUpstream(*a);
  });
}

void OutboundConnection::ConnectUpstream(const net::SocketAddress& address) {
  target_ = address;
  ConnectTo(address, "upstream");
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
  if (retried_) return;  // the server refused the last one: a full handshake
  if (bssl::UniquePtr<SSL_SESSION> session = host_->TakeSession(session_key_)) {
    SSL_set_session(ssl, session.get());
  }
}

void OutboundConnection::OnHandshakeDone(bool resumed) {
  if (!resumed || SSL_version(tls()->ssl()) != TLS1_3_VERSION) {
    StartPump();
    return;
  }
  // TLS 1.3: the server judges the peer a resumed session recorded only
  // after our side of the handshake is done. Its ticket (or its first bytes)
  // says it accepted; an alert says it did not. Until then the app's bytes
  // stay with the app.
  phase_ = Phase::kConfirming;
  timer_.Arm(listener_->handshake_timeout);
  OnConfirmReadiness();
}

void OutboundConnection::OnConfirmReadiness() {
  char byte;
  ERR_clear_error();
  // Processes what arrived (a ticket calls OnNewSession) without taking
  // application bytes, which the pump will read.
  const int n = confirmed_ ? 1 : SSL_peek(tls()->ssl(), &byte, 1);
  if (confirmed_ || n > 0) {
    timer_.Cancel();
    StartPump();
    return;
  }
  const int error = SSL_get_error(tls()->ssl(), n);
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return;
  ERR_clear_error();
  RetryWithFullHandshake();
}

void OutboundConnection::OnConfirmTimeout() {
  // Nothing either way from the server: carry on rather than fail the app.
  StartPump();
}

void OutboundConnection::RetryWithFullHandshake() {
  host_->ForgetSession(session_key_);
  retried_ = true;
  timer_.Cancel();
  DropUpstream();
  ConnectUpstream(target_);
}

void OutboundConnection::OnNewSession(bssl::UniquePtr<SSL_SESSION> session) {
  if (phase_ == Phase::kConfirming) confirmed_ = true;
  if (!session_key_.empty() && peer().has_value() && snapshot_ != nullptr) {
    host_->StoreSession(session_key_, std::move(session), peer()->chain_not_after,
                        snapshot_->generation);
  }
}

}  // namespace palisade::forward
