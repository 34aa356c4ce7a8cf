// The identity port: palisade-control's own BoringSSL TLS listener. It
// presents the control plane's SVID, verifies a client SVID when one is
// presented (optional: first contact has none), and forwards each connection's
// plaintext to the in-process gRPC server on loopback, recording the
// forwarder's source address -> verified peer in the PeerTable for the
// service to read back from ServerContext::peer() (CONSTRAINTS.md §2).
#ifndef PALISADE_CONTROL_SERVICE_TLS_FRONT_END_H_
#define PALISADE_CONTROL_SERVICE_TLS_FRONT_END_H_

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "control/metrics/control_metrics.h"
#include "control/service/peer_table.h"
#include "identity/trust_bundle.h"
#include "runtime/event/event_loop.h"
#include "runtime/net/socket_address.h"
#include "runtime/net/unique_fd.h"
#include "runtime/sync/mutex.h"
#include "runtime/tls/tls_context.h"

namespace palisade::control {

class TlsFrontEnd {
 public:
  struct Options {
    net::SocketAddress listen;
    net::SocketAddress backend;  // the gRPC server, 127.0.0.1:PORT
    std::string trust_domain;
    absl::Duration handshake_timeout = absl::Seconds(10);
    absl::Duration clock_skew = absl::Seconds(30);
    // Connections held at once; 0 = what the descriptor limit allows (each
    // holds three: TLS, forwarder, gRPC's side), less a reserve. Beyond it a
    // connection is closed at accept rather than left half-served.
    size_t max_connections = 0;
    std::function<absl::Time()> clock = [] { return absl::Now(); };
  };

  // Binds the listener (so address() is known) but accepts nothing until
  // Start(). `peers` and `metrics` (optional) must outlive this.
  static absl::StatusOr<std::unique_ptr<TlsFrontEnd>> Create(Options options, PeerTable* peers,
                                                             ControlMetrics* metrics);
  ~TlsFrontEnd();

  // The serving SVID (leaf first) and key, and the roots client SVIDs must
  // chain to. Thread-safe; new connections use the latest, live ones keep theirs.
  absl::Status SetCredentials(const std::vector<X509*>& chain, EVP_PKEY* key,
                              identity::TrustBundleSet bundles);
  // Starts the loop thread. Needs credentials first.
  absl::Status Start();
  // Closes every connection and stops the thread.
  void Stop();

  net::SocketAddress address() const { return address_; }
  size_t connection_count() const { return connections_.load(std::memory_order_relaxed); }

 private:
  class Connection;
  struct Credentials {
    std::shared_ptr<const tls::TlsContext> tls;
    identity::TrustBundleSet bundles;
  };

  TlsFrontEnd(Options options, PeerTable* peers, ControlMetrics* metrics, net::UniqueFd listener,
              net::SocketAddress address, std::unique_ptr<event::EventLoop> loop);
  void AcceptAll();
  void Release(Connection* connection);
  std::shared_ptr<const Credentials> credentials() const;

  const Options options_;
  PeerTable* const peers_;
  ControlMetrics* const metrics_;
  net::UniqueFd listener_;
  const net::SocketAddress address_;
  std::unique_ptr<event::EventLoop> loop_;
  std::unique_ptr<event::FdWatcher> accept_watch_;
  std::unique_ptr<event::Timer> accept_retry_;
  std::thread thread_;
  std::atomic<size_t> connections_{0};
  size_t max_connections_ = 0;
  // Loop thread only.
  absl::flat_hash_map<Connection*, std::unique_ptr<Connection>> live_;

  mutable sync::Mutex mu_;
  std::shared_ptr<const Credentials> credentials_ ABSL_GUARDED_BY(mu_);
};

}  // namespace palisade::control

#endif  // PALISADE_CONTROL_SERVICE_TLS_FRONT_END_H_
