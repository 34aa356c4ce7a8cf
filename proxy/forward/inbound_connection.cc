#include "proxy/forward/inbound_connection.h"

#include "proxy/caller/caller_info.h"
#include "proxy/caller/http_identity_transport.h"
#include "proxy/caller/proxy_protocol.h"
#include "runtime/net/plain_transport.h"
#include "runtime/net/sockets.h"

namespace palisade::forward {

void InboundConnection::Begin() {
  if (!TakeUsableSnapshot()) return;
  BeginHandshake(std::move(accepted_), tls::Role::kServer);
}

void InboundConnection::OnHandshakeDone(bool resumed) {
  resumed_ = resumed;
  ConnectTo(listener_->original_destination
                ? listener_->forward_to.WithPort(original_destination_.port())
                : listener_->forward_to,
            "app");
}

void InboundConnection::OnConnected(net::UniqueFd fd) {
  // The peer is judged and its identity kept here; an idle connection need
  // not carry the handshaker for the rest of its life.
  ReleaseHandshaker();
  upstream_ = std::make_unique<net::PlainTransport>(std::move(fd));
  if (listener_->caller_identity.mode != CallerIdentityMode::kOff && !HandCallerToApp()) return;
  StartPump();
}

bool InboundConnection::HandCallerToApp() {
  if (tls() == nullptr) {
    Close("internal_error");
    return false;
  }
  // Whatever verified the peer, its identity and certificate are on the SSL.
  caller::CallerInfo info =
      caller::ReadCallerInfo(tls()->ssl(), peer().has_value() ? peer()->spiffe_id.ToString() : "");
  if (listener_->gateway.has_value() && client().has_value()) {
    caller::UseGatewayIdentity(identity::IdentityFromName(listener_->gateway->identity_from),
                               client()->identity, &info);
  }
  const CallerIdentityOptions& options = listener_->caller_identity;
  if (options.mode == CallerIdentityMode::kHttpHeader) {
    downstream_ = std::make_unique<caller::HttpIdentityTransport>(
        std::move(downstream_), options.header_name,
        caller::FormatForwardedClientCert(snapshot_->spiffe_id.ToString(), info),
        options.max_header_bytes);
    return true;
  }
  caller::ProxyHeaderInfo header;
  header.source = peer_address_;
  absl::StatusOr<net::SocketAddress> local = net::LocalAddressOf(downstream_->fd());
  header.destination = local.ok() ? *local : listener_->address;
  header.certificate_verified = info.certificate_verified;
  header.resumed = resumed_;
  header.tls_version = info.tls_version;
  header.common_name = info.common_name;
  header.spiffe_id = info.uri;
  const std::string bytes = caller::EncodeProxyV2(header);
  // The app's socket has just connected: its empty send buffer (16 KiB and
  // more) takes the header, at most a few KiB, whole. Anything else is a
  // broken connection; the app must never see app bytes without the header.
  const net::IoResult written = upstream_->Write(bytes.data(), bytes.size());
  if (written.status != net::IoStatus::kOk || written.bytes != bytes.size()) {
    Close("app_proxy_header_failed");
    return false;
  }
  return true;
}

}  // namespace palisade::forward
