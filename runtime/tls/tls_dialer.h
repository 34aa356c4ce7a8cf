// The one client-side TLS connect, the terminator's counterpart: resolve the
// server's name without blocking, connect within a deadline, handshake
// within a deadline with the server judged by the PeerVerifier (an
// X.509-SVID with the expected identity), then hand over the TLS transport.
// The proxy's control-plane channel is built on it.
#ifndef PALISADE_RUNTIME_TLS_TLS_DIALER_H_
#define PALISADE_RUNTIME_TLS_TLS_DIALER_H_

#include <openssl/ssl.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "identity/authz_policy.h"
#include "identity/svid_verifier.h"
#include "identity/trust_bundle.h"
#include "runtime/event/event_loop.h"
#include "runtime/net/resolver.h"
#include "runtime/net/socket_address.h"
#include "runtime/net/unique_fd.h"
#include "runtime/tls/handshaker.h"
#include "runtime/tls/tls_transport.h"

namespace palisade::tls {

// Loop thread only. One attempt; destroying it cancels what is in flight.
class TlsDialer {
 public:
  struct Options {
    net::HostPort target;
    std::string name;                        // in messages: "control plane 10.0.0.1:15012"
    bssl::UniquePtr<SSL_CTX> context;        // a client context from NewContext
    identity::TrustBundleSet bundles;        // the roots that verify the server
    identity::AuthorizationPolicy expected;  // who the server must be
    std::string expected_description;        // in messages
    absl::Duration connect_timeout = absl::Seconds(5);  // lookup + TCP connect
    absl::Duration handshake_timeout = absl::Seconds(10);
    absl::Duration clock_skew = absl::ZeroDuration();
    std::function<absl::Time()> clock = [] { return absl::Now(); };
  };
  struct Dialed {
    std::unique_ptr<TlsTransport> transport;  // handshake done, no hooks attached
    identity::VerifiedSvid server;
  };
  // Exactly once, unless the dialer is destroyed first. Errors:
  // Unavailable (lookup, connect, TLS failure), DeadlineExceeded (a timeout),
  // Unauthenticated (the server's SVID did not verify or names another
  // identity). Messages name the server and the reason code.
  using Done = std::function<void(absl::StatusOr<Dialed>)>;

  TlsDialer(event::EventLoop* loop, Options options, Done done);
  ~TlsDialer();
  TlsDialer(const TlsDialer&) = delete;
  TlsDialer& operator=(const TlsDialer&) = delete;

  void Start();

 private:
  enum class Phase { kIdle, kResolving, kConnecting, kHandshaking, kDone };

  void OnResolved(absl::StatusOr<net::SocketAddress> address);
  void OnSocketEvent();
  void OnConnected();
  void OnHandshake(const HandshakeResult& result);
  void OnConnectTimeout();
  void Finish(absl::StatusOr<Dialed> outcome);

  event::EventLoop* const loop_;
  Options options_;
  Done done_;
  net::Resolver resolver_;
  std::shared_ptr<void> resolving_;
  event::Timer connect_deadline_;
  Phase phase_ = Phase::kIdle;
  net::SocketAddress address_;
  net::UniqueFd connecting_;
  std::unique_ptr<TlsTransport> transport_;
  std::unique_ptr<Handshaker> handshaker_;  // after transport_: goes first
  std::unique_ptr<event::FdWatcher> watch_;
};

}  // namespace palisade::tls

#endif  // PALISADE_RUNTIME_TLS_TLS_DIALER_H_
