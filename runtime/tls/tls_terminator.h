// The one server-side TLS endpoint of palisade-control (its identity port
// and admission webhook) and of tests that need a TLS server. On its own
// loop thread it accepts (capped), handshakes within a deadline, judges the
// client (PeerVerifier), then connects to a plaintext backend on loopback
// and pumps bytes both ways. The backend learns who is behind a connection
// from the forwarder's source address, which on_forward reports before any
// byte reaches the backend (CONSTRAINTS.md §2: gRPC's own TLS cannot run
// beside BoringSSL).
#ifndef PALISADE_RUNTIME_TLS_TLS_TERMINATOR_H_
#define PALISADE_RUNTIME_TLS_TLS_TERMINATOR_H_

#include <openssl/ssl.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "identity/trust_bundle.h"
#include "runtime/event/event_loop.h"
#include "runtime/net/acceptor.h"
#include "runtime/net/socket_address.h"
#include "runtime/net/unique_fd.h"
#include "runtime/sync/mutex.h"
#include "runtime/tls/context_setup.h"
#include "runtime/tls/handshaker.h"

namespace palisade::tls {

// Create/Start/Stop from one thread; SetCredentials and SetServing from
// any; the events run on the terminator's loop thread, one at a time.
class TlsTerminator {
 public:
  // What it serves with; immutable, replaced whole. New connections use the
  // latest, live ones keep theirs.
  struct Credentials {
    bssl::UniquePtr<SSL_CTX> context;  // a server context from NewContext
    identity::TrustBundleSet bundles;  // verifies client SVIDs, when asked for
  };
  struct Options {
    net::SocketAddress listen;
    net::SocketAddress backend;  // plaintext, loopback
    // Must match how the context was built.
    PeerCertificates client_certificates = PeerCertificates::kNotRequested;
    std::string expected_trust_domain;  // client SVIDs must be of it, if set
    absl::Duration clock_skew = absl::ZeroDuration();
    absl::Duration handshake_timeout = absl::Seconds(10);
    // No byte either way for this long closes a connection.
    absl::Duration idle_timeout = absl::InfiniteDuration();
    // After a failed handshake the socket stays open this long (or until
    // the client closes) so the client reads our alert, not a reset.
    absl::Duration linger = absl::Seconds(2);
    // Connections held at once (lingering ones too); 0 = what the
    // descriptor limit allows (each holds three: TLS, forwarder, and the
    // backend's side), less a reserve. Beyond it a connection is closed at
    // accept rather than left half-served.
    size_t max_connections = 0;
    int backlog = 4096;
    std::string thread_name = "palisade-tls";
    std::function<absl::Time()> clock = [] { return absl::Now(); };
  };
  struct Events {
    // Every handshake's result, with the client's address.
    std::function<void(const HandshakeResult&, const net::SocketAddress& remote)> on_handshake;
    // A verified client is about to reach the backend from `forwarder`; no
    // byte has gone there yet.
    std::function<void(const net::SocketAddress& forwarder, const verify::PeerVerdict& peer,
                       const net::SocketAddress& remote)>
        on_forward;
    // ... and that forwarded connection is gone.
    std::function<void(const net::SocketAddress& forwarder)> on_forward_end;
    // A connection closed at accept: "max_connections", "fd_limit", "not_serving".
    std::function<void(absl::string_view reason)> on_refused;
  };

  // Binds the listener (so address() is known) but accepts nothing until Start().
  static absl::StatusOr<std::unique_ptr<TlsTerminator>> Create(Options options, Events events);
  ~TlsTerminator();  // Stop()

  void SetCredentials(std::shared_ptr<const Credentials> credentials);
  // Starts the loop thread. Needs credentials first.
  absl::Status Start();
  // Closes every connection and stops the thread. Idempotent.
  void Stop();
  // While not serving, live connections are closed and new ones refused at
  // accept ("not_serving"): an endpoint taken out of service without giving
  // up its port. Returns once live connections are closed.
  void SetServing(bool serving);

  net::SocketAddress address() const { return address_; }
  size_t connection_count() const { return live_count_.load(std::memory_order_relaxed); }

 private:
  class Connection;

  TlsTerminator(Options options, Events events, net::UniqueFd listener, net::SocketAddress address,
                std::unique_ptr<event::EventLoop> loop);
  void OnAccepted(net::UniqueFd fd, const net::SocketAddress& remote);
  void Release(uint64_t id);  // destroyed on the next turn
  void Refuse(absl::string_view reason);
  std::shared_ptr<const Credentials> credentials() const;

  const Options options_;
  const Events events_;
  const size_t max_connections_;
  net::UniqueFd listener_;
  const net::SocketAddress address_;
  std::unique_ptr<event::EventLoop> loop_;
  std::thread thread_;
  std::atomic<size_t> live_count_{0};
  std::atomic<bool> serving_{true};
  // Loop thread only.
  std::unique_ptr<net::Acceptor> acceptor_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Connection>> live_;
  uint64_t next_id_ = 1;

  mutable sync::Mutex mu_;
  std::shared_ptr<const Credentials> credentials_ ABSL_GUARDED_BY(mu_);
};

}  // namespace palisade::tls

#endif  // PALISADE_RUNTIME_TLS_TLS_TERMINATOR_H_
