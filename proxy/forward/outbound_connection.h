// Outbound: the local app's plaintext connection, carried to an upstream
// proxy over mTLS. It waits (parked) until this proxy holds its first SVID,
// looks the upstream up, connects, then handshakes as a client offering a
// session from the last connection there; the upstream's SVID must match the
// expected identity. A resumed session is confirmed by the server (TLS 1.3:
// its ticket or first bytes) before any of the app's bytes go out; a refused
// one is retried once with a full handshake, so a stale session never costs
// the app its connection. Then the pump starts.
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
  void ConnectUpstream(const net::SocketAddress& address);
  void OnConnected(net::UniqueFd fd) override;
  void OnHandshakeDone(bool resumed) override;
  void OnNewSession(bssl::UniquePtr<SSL_SESSION> session) override;
  void OnConfirmReadiness() override;
  void OnConfirmTimeout() override;
  // SNI and a session to resume, on the new client SSL.
  void PrepareSsl(SSL* ssl);
  void RetryWithFullHandshake();

  std::shared_ptr<void> resolving_;  // the lookup in flight; dropping it cancels
  net::SocketAddress target_;        // the upstream's address, for a retry
  std::string session_key_;
  bool confirmed_ = false;  // the server sent a ticket after a resumption
  bool retried_ = false;    // a refused resumption was retried in full
};

}  // namespace palisade::forward

#endif  // PALISADE_PROXY_FORWARD_OUTBOUND_CONNECTION_H_
