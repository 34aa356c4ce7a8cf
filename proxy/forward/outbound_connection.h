// Outbound: the local app's plaintext connection, carried to an upstream
// proxy over mTLS. It waits (parked) until this proxy holds its first SVID,
// looks the upstream up, connects, then handshakes as a client offering a
// session from the last connection there; the upstream's SVID must match the
// expected identity. Only then does the pump start.
#ifndef PALISADE_PROXY_FORWARD_OUTBOUND_CONNECTION_H_
#define PALISADE_PROXY_FORWARD_OUTBOUND_CONNECTION_H_

#include <memory>
#include <string>

#include "proxy/forward/connection.h"

namespace palisade::forward {

class OutboundConnection final : public Connection {
 public:
  OutboundConnection(ConnectionHost* host, const ListenerContext* listener, net::UniqueFd accepted,
                     net::SocketAddress peer_address)
      : Connection(host, listener, std::move(accepted), peer_address) {}

  void OnIdentityAvailable() override;

 private:
  void Begin() override;
  void OnConnected(net::UniqueFd fd) override;
  void OnHandshakeDone() override { StartPump(); }
  void OnNewSession(bssl::UniquePtr<SSL_SESSION> session) override;
  // SNI and a session to resume, on the new client SSL.
  void PrepareSsl(SSL* ssl);

  std::shared_ptr<void> resolving_;  // the lookup in flight; dropping it cancels
  std::string session_key_;
};

}  // namespace palisade::forward

#endif  // PALISADE_PROXY_FORWARD_OUTBOUND_CONNECTION_H_
