// The one server-side TLS endpoint of palisade-control (its identity port
// and admission webhook) and of tests that need a TLS server. On its own
// loop thread it accepts, handshakes within a deadline, judges the client
// (PeerVerifier), then connects to a plaintext backend on loopback and pumps
// bytes both ways. The backend learns who is behind a connection from the
// forwarder's source address, which on_forward reports before any byte
// reaches the backend (CONSTRAINTS.md §2: gRPC's own TLS cannot run beside
// BoringSSL).
//
// Two bounds, so that connections which prove nothing cannot starve those
// that do: pending ones (accepted, handshake not finished, or lingering after
// a failed one) live in a net::PendingConnections table, per listener and per
// source, where a new one evicts the oldest when full; established ones
// (handshake done, forwarding) count against max_connections, of which
// `reserved_for_svids` only clients with a verified SVID may use, and
// anonymous ones are also bounded per source. An established connection
// whose client sends no byte within first_byte_timeout is closed.
#ifndef PALISADE_RUNTIME_TLS_TLS_TERMINATOR_H_
#define PALISADE_RUNTIME_TLS_TLS_TERMINATOR_H_

#include <openssl/ssl.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "identity/trust_bundle.h"
#include "runtime/event/event_loop.h"
#include "runtime/net/acceptor.h"
#include "runtime/net/pending_connections.h"
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
    // After the handshake, the client must send its first byte within this
    // (all our protocols speak first from the client), or it is closed.
    absl::Duration first_byte_timeout = absl::InfiniteDuration();
    // Established connections held at once; 0 = what the descriptor limit
    // allows once the pending ones have theirs (see EffectiveLimits). When
    // full, new connections are closed at accept.
    size_t max_connections = 0;
    // Of max_connections, this many are only for clients with a verified
    // SVID: anonymous clients get at most max_connections - this.
    size_t reserved_for_svids = 0;
    // Established anonymous connections from one IP address; 0 = no bound.
    size_t max_anonymous_per_source = 0;
    // Handshakes in progress (and failed ones lingering); 0 = a quarter of
    // the descriptor budget, at most 1024. Never refused: the oldest pending
    // connection (the source's own oldest, once the source is at its share)
    // is closed to make room ("pending_evicted").
    size_t max_pending = 0;
    size_t max_pending_per_source = 64;
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
    // A connection closed before it was served. At accept: "max_connections",
    // "fd_limit", "not_serving"; a pending one to make room:
    // "pending_evicted"; after the handshake: "anonymous_limit",
    // "anonymous_per_source", "max_connections"; established but silent:
    // "first_byte_timeout".
    std::function<void(absl::string_view reason)> on_refused;
  };

  // Every reason on_refused gives, e.g. to create metric series at zero.
  static std::vector<std::string> KnownRefusalReasons();

  // The bounds `options` come to, with the zeros resolved. Descriptors: a
  // pending connection holds one, an established one three (TLS, forwarder,
  // and the backend's side); pending + 3 * established stays within the
  // descriptor limit less a reserve for everything else.
  struct Limits {
    size_t max_connections;
    size_t max_pending;
  };
  static Limits EffectiveLimits(const Options& options);

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
  // Every connection held: pending, established, lingering.
  size_t connection_count() const { return live_count_.load(std::memory_order_relaxed); }
  const Limits& limits() const { return limits_; }

 private:
  class Connection;

  TlsTerminator(Options options, Events events, net::UniqueFd listener, net::SocketAddress address,
                std::unique_ptr<event::EventLoop> loop);
  void OnAccepted(net::UniqueFd fd, const net::SocketAddress& remote);
  // A handshake succeeded: "" if it may be established (and now counts as
  // such), else why not.
  std::string Establish(uint64_t id, bool anonymous, const std::string& source);
  void Release(uint64_t id);  // no longer counted; destroyed on the next turn
  void CloseAll();
  void Refuse(absl::string_view reason);
  std::shared_ptr<const Credentials> credentials() const;

  const Options options_;
  const Events events_;
  const Limits limits_;
  net::UniqueFd listener_;
  const net::SocketAddress address_;
  std::unique_ptr<event::EventLoop> loop_;
  std::thread thread_;
  std::atomic<size_t> live_count_{0};
  std::atomic<bool> serving_{true};
  // Loop thread only.
  std::unique_ptr<net::Acceptor> acceptor_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Connection>> live_;
  net::PendingConnections pending_;
  size_t established_ = 0;
  size_t anonymous_ = 0;
  absl::flat_hash_map<std::string, size_t> anonymous_by_source_;
  uint64_t next_id_ = 1;

  mutable sync::Mutex mu_;
  std::shared_ptr<const Credentials> credentials_ ABSL_GUARDED_BY(mu_);
};

}  // namespace palisade::tls

#endif  // PALISADE_RUNTIME_TLS_TLS_TERMINATOR_H_
