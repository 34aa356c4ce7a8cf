// Inbound: a peer proxy's mTLS connection to this proxy's app. The peer's
// SVID is verified and authorized in the handshake before anything else
// happens; only then is the local app connected (on the original port, with
// transparent capture), and the pump starts.
#ifndef PALISADE_PROXY_FORWARD_INBOUND_CONNECTION_H_
#define PALISADE_PROXY_FORWARD_INBOUND_CONNECTION_H_

#include "proxy/forward/connection.h"

namespace palisade::forward {

class InboundConnection final : public Connection {
 public:
  InboundConnection(ConnectionHost* host, const ListenerContext* listener, net::UniqueFd accepted,
                    net::SocketAddress peer_address)
      : Connection(host, listener, std::move(accepted), peer_address) {}

 private:
  void Begin() override;
  void OnHandshakeDone(bool resumed) override;
  void OnConnected(net::UniqueFd fd) override;
  // listener.caller_identity: the PROXY v2 header written to the app, or the
  // downstream wrapped to set the identity header; false when closed.
  bool HandCallerToApp();

  bool resumed_ = false;
};

}  // namespace palisade::forward

#endif  // PALISADE_PROXY_FORWARD_INBOUND_CONNECTION_H_
