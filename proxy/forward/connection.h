// One proxied connection, from accept to close. Inbound: TLS handshake with
// the peer proxy (its SVID verified and authorized), then a plaintext
// connection to the local app. Outbound: the local app's plaintext, held
// until this proxy has an SVID, then TLS to the upstream, whose SVID must
// match the expected identity. Then the pump carries bytes both ways.
#ifndef PALISADE_PROXY_FORWARD_CONNECTION_H_
#define PALISADE_PROXY_FORWARD_CONNECTION_H_

#include <openssl/ssl.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "identity/svid_verifier.h"
#include "runtime/event/event_loop.h"
#include "proxy/forward/connection_host.h"
#include "proxy/forward/listener_context.h"
#include "runtime/net/pump.h"
#include "runtime/net/socket_address.h"
#include "runtime/net/transport.h"
#include "runtime/net/unique_fd.h"
#include "runtime/tls/tls_context.h"
#include "runtime/tls/tls_transport.h"

namespace palisade::forward {

// Loop thread only. Owned by its host, which destroys it after Release().
class Connection final : public tls::TlsConnectionHooks {
 public:
  Connection(ConnectionHost* host, const ListenerContext* listener, net::UniqueFd accepted,
             net::SocketAddress peer_address);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void Start();
  // Outbound, parked: the first SVID has arrived.
  void OnIdentityAvailable();
  // Stops reading, flushes, ends both write directions; closes for good
  // after `grace` at the latest. Used by drain and re-authentication.
  void CloseGracefully(const std::string& reason, absl::Duration grace);
  void Abort(const std::string& reason) { Close(reason); }

  const ListenerContext& listener() const { return *listener_; }
  // The peer's verified SVID once the handshake succeeded.
  const std::optional<identity::VerifiedSvid>& peer() const { return peer_; }
  bool established() const { return phase_ == Phase::kPumping; }
  bool closing() const { return phase_ == Phase::kClosing; }

  ssl_verify_result_t VerifyPeer(SSL* ssl, uint8_t* out_alert) override;
  void OnNewClientSession(bssl::UniquePtr<SSL_SESSION> session) override;

 private:
  enum class Phase {
    kNew,
    kParked,
    kResolving,
    kConnecting,
    kHandshaking,
    kPumping,
    kClosing,
    kDone
  };

  bool TakeUsableSnapshot();
  void ConnectTo(const net::SocketAddress& address);
  void OnConnectEvent();
  void BeginHandshake(net::UniqueFd fd, bool as_server);
  void ContinueHandshake();
  void FailHandshake(const std::string& reason, const std::string& detail);
  void OnHandshakeDone();
  void StartPump();
  void OnFdEvent(net::Side side, bool readable, bool writable);
  void OnTimer();
  void Close(const std::string& reason);
  identity::SvidVerification CheckPeerChain(SSL* ssl);

  ConnectionHost* const host_;
  const ListenerContext* const listener_;
  const net::SocketAddress peer_address_;
  std::shared_ptr<const credentials::CredentialSnapshot> snapshot_;

  net::UniqueFd accepted_;  // until its transport exists
  net::UniqueFd connecting_;
  std::unique_ptr<net::Transport> downstream_;
  std::unique_ptr<net::Transport> upstream_;
  tls::TlsTransport* tls_ = nullptr;  // whichever of the two speaks TLS
  std::unique_ptr<event::FdWatcher> down_watch_;
  std::unique_ptr<event::FdWatcher> up_watch_;
  std::unique_ptr<net::Pump> pump_;
  event::Timer timer_;
  std::shared_ptr<void> resolving_;

  Phase phase_ = Phase::kNew;
  bool handshake_ok_ = false;
  bool handshake_failed_ = false;
  absl::Time accepted_at_;
  absl::Time handshake_started_;
  absl::Time closing_deadline_;
  std::string closing_reason_;
  std::optional<identity::VerifiedSvid> peer_;
  identity::SvidVerification verification_;
  std::string session_key_;
  std::string failure_detail_;
  // What the peer must be: the listener's policy, or a destination rule's.
  const identity::AuthorizationPolicy* policy_ = nullptr;
  const std::string* policy_description_ = nullptr;
  std::shared_ptr<const ListenerPolicy> reloaded_policy_;  // keeps policy_ alive
  net::SocketAddress original_destination_;
};

}  // namespace palisade::forward

#endif  // PALISADE_PROXY_FORWARD_CONNECTION_H_
