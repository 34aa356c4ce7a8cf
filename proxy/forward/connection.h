// One proxied connection, from accept to close: the parts inbound and
// outbound share. Each direction is a small state machine of its own
// (inbound_connection.h, outbound_connection.h) over these steps: take the
// credential snapshot, connect onwards, the TLS handshake (runtime's
// Handshaker, peers judged by runtime/verify), the pump, the idle timer, a
// graceful or abrupt close, and one report of each to the observer.
#ifndef PALISADE_PROXY_FORWARD_CONNECTION_H_
#define PALISADE_PROXY_FORWARD_CONNECTION_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "identity/svid_verifier.h"
#include "proxy/forward/connection_host.h"
#include "proxy/forward/listener_context.h"
#include "runtime/event/event_loop.h"
#include "runtime/net/pump.h"
#include "runtime/net/socket_address.h"
#include "runtime/net/transport.h"
#include "runtime/net/unique_fd.h"
#include "runtime/tls/context_setup.h"
#include "runtime/tls/handshaker.h"
#include "runtime/tls/tls_transport.h"

namespace palisade::forward {

// Loop thread only. Owned by its host, which destroys it after Release().
class Connection {
 public:
  virtual ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void Start();
  // Outbound, parked: the first SVID has arrived.
  virtual void OnIdentityAvailable() {}
  // Ends the connection without losing a byte (net::Pump::FinishGracefully);
  // after `grace` what is still open is reset. Used by drain,
  // re-authentication and the idle timeout.
  void CloseGracefully(const std::string& reason, absl::Duration grace);
  void Abort(const std::string& reason) { Close(reason); }

  const ListenerContext& listener() const { return *listener_; }
  // The peer's verified SVID once the handshake succeeded.
  const std::optional<identity::VerifiedSvid>& peer() const { return peer_; }
  // On a gateway listener, the client's verified certificate instead.
  const std::optional<identity::VerifiedClient>& client() const { return client_; }
  // A gateway client's chain judged again, by a reloaded trust store: ok, or
  // why it would be refused now (certificate_revoked, untrusted_chain...).
  identity::VerifyReason RecheckClient(const identity::GatewayTrust& trust) const;
  bool established() const { return phase_ == Phase::kPumping; }
  bool closing() const { return phase_ == Phase::kClosing; }

 protected:
  enum class Phase {
    kNew,
    kParked,
    kResolving,
    kConnecting,
    kHandshaking,
    kConfirming,  // outbound, resumed: waiting for the server to accept the session
    kPumping,
    kClosing,
    kDone
  };

  Connection(ConnectionHost* host, const ListenerContext* listener, net::UniqueFd accepted,
             net::SocketAddress peer_address);

  // The direction's first step, after the common admission.
  virtual void Begin() = 0;
  // The connection onwards (ConnectTo) is up.
  virtual void OnConnected(net::UniqueFd fd) = 0;
  // The handshake succeeded and was reported.
  virtual void OnHandshakeDone(bool resumed) = 0;
  // A new client session from the TLS upstream (outbound).
  virtual void OnNewSession(bssl::UniquePtr<SSL_SESSION> session) {}
  // kConfirming: the upstream is readable, or the wait is over.
  virtual void OnConfirmReadiness() {}
  virtual void OnConfirmTimeout() {}

  // The snapshot new connections use; false (and closed) when there is
  // none or it has expired: an expired SVID is no identity at all.
  bool TakeUsableSnapshot();
  // A non-blocking connect within the listener's connect timeout (unless a
  // deadline already runs: an outbound one covers the name lookup too);
  // failures close with "<who>_connect_failed", "<who>_<errno reason>" or
  // "<who>_connect_timeout" (who: "app" or "upstream").
  void ConnectTo(const net::SocketAddress& address, const char* who);
  // The TLS handshake on `fd` as `role`, the peer judged against policy_.
  // `ssl_setup` may set SNI or offer a session on the new SSL.
  void BeginHandshake(net::UniqueFd fd, tls::Role role,
                      const std::function<void(SSL*)>& ssl_setup = nullptr);
  void FailHandshake(const std::string& reason, const std::string& detail);
  void StartPump();
  void Close(const std::string& reason);
  void Park();
  // Gives up the upstream connection and its handshake (to connect again).
  void DropUpstream();
  // Frees a finished handshake's state (about 1 KB) once nothing needs it:
  // inbound, where no client sessions arrive later. Not from its callback.
  void ReleaseHandshaker();
  tls::TlsTransport* tls() const { return tls_; }

  ConnectionHost* const host_;
  const ListenerContext* const listener_;
  const net::SocketAddress peer_address_;
  std::shared_ptr<const credentials::CredentialSnapshot> snapshot_;
  net::UniqueFd accepted_;  // until its transport exists
  std::unique_ptr<net::Transport> downstream_;
  std::unique_ptr<net::Transport> upstream_;
  std::unique_ptr<event::FdWatcher> down_watch_;
  std::unique_ptr<event::FdWatcher> up_watch_;
  event::Timer timer_;
  Phase phase_ = Phase::kNew;
  // What the peer must be: the listener's policy, a reloaded one, or a
  // destination rule's; null means peers of our own trust domain.
  const identity::AuthorizationPolicy* policy_ = nullptr;
  const std::string* policy_description_ = nullptr;
  net::SocketAddress original_destination_;
  // Whom connecting onwards reaches, for close reasons: "app" or "upstream".
  std::string connect_who_;

 private:
  void SelectPolicy();
  void OnFdEvent(net::Side side, bool readable, bool writable);
  void OnConnectEvent();
  void OnHandshakeResult(const tls::HandshakeResult& result);
  void OnTimer();

  tls::TlsTransport* tls_ = nullptr;  // whichever transport speaks TLS
  net::Side tls_side_ = net::Side::kDownstream;
  std::unique_ptr<tls::Handshaker> handshaker_;  // after the transports: goes first
  std::unique_ptr<net::Pump> pump_;
  net::UniqueFd connecting_;
  std::shared_ptr<const ListenerPolicy> reloaded_policy_;  // keeps policy_ alive
  bool pump_done_ = false;                                 // the pump ended both directions cleanly
  bool handshake_ok_ = false;
  bool handshake_failed_ = false;
  bool counted_ = false;  // in listener_->active, against max_connections
  absl::Time accepted_at_;
  std::string closing_reason_;
  std::optional<identity::VerifiedSvid> peer_;
  std::optional<identity::VerifiedClient> client_;
  std::shared_ptr<const identity::GatewayTrust> gateway_trust_;  // for the check's lifetime
  std::string refused_peer_id_;                                  // verified, then not authorized
  std::string failure_detail_;
};

}  // namespace palisade::forward

#endif  // PALISADE_PROXY_FORWARD_CONNECTION_H_
