#include "proxy/forward/inbound_connection.h"

#include "runtime/net/plain_transport.h"

namespace palisade::forward {

void InboundConnection::Begin() {
  if (!TakeUsableSnapshot()) return;
  BeginHandshake(std::move(accepted_), tls::Role::kServer);
}

void InboundConnection::OnHandshakeDone(bool) {
  ConnectTo(listener_->original_destination
                ? listener_->forward_to.WithPort(original_destination_.port())
                : listener_->forward_to,
            "app");
}

void InboundConnection::OnConnected(net::UniqueFd fd) {
  upstream_ = std::make_unique<net::PlainTransport>(std::move(fd));
  StartPump();
}

}  // namespace palisade::forward
