// The data plane assembled from the config: listener contexts, their sockets
// (one per worker and listener, SO_REUSEPORT), the workers, and the wiring
// from the credential store to every worker.
#ifndef PALISADE_PROXY_SERVER_PROXY_SERVER_H_
#define PALISADE_PROXY_SERVER_PROXY_SERVER_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/palisade/config/v1/config.pb.h"
#include "proxy/credentials/credential_store.h"
#include "proxy/forward/connection_host.h"
#include "proxy/forward/listener_context.h"
#include "proxy/server/worker.h"
#include "runtime/sync/mutex.h"

namespace palisade::server {

struct BoundListener {
  std::string name;
  forward::Direction direction;
  net::SocketAddress address;  // the real port when the config said 0
};

// Start/Drain/Stop from the main thread; the queries are thread-safe.
class ProxyServer {
 public:
  // Builds listener contexts from a validated config; errors name the listener.
  static absl::StatusOr<std::unique_ptr<ProxyServer>> Create(const config::v1::ProxyConfig& config,
                                                             credentials::CredentialStore* store,
                                                             forward::ConnectionObserver* observer);
  ~ProxyServer();

  // Binds every listener and starts the workers. Errors name the listener
  // and address (e.g. the port is taken).
  absl::Status Start();
  // Stops accepting; returns once live connections finished or the drain
  // timeout closed them.
  void Drain();
  void BeginDrain();
  bool WaitDrained(absl::Duration timeout);
  void Stop();

  // Empty until Start() has bound them all (the admin server, up before
  // the listeners, may ask earlier; bound_ does not change after).
  std::vector<BoundListener> listeners() const {
    return started_.load() ? bound_ : std::vector<BoundListener>();
  }
  bool draining() const { return draining_.load(); }
  absl::Duration DrainTimeout() const;
  bool started() const { return started_.load(); }
  // Applies the inbound listeners' authorization policies from a reloaded
  // (validated) config; other changes need a restart. Returns the listeners
  // updated. Connections whose peer is no longer allowed close gracefully.
  absl::StatusOr<std::vector<std::string>> ReloadPolicies(const config::v1::ProxyConfig& config);
  // A gateway listener's reloaded trust store, for new handshakes on every
  // worker; false when `listener` is not a gateway listener.
  bool UpdateGatewayTrust(const std::string& listener,
                          std::shared_ptr<const identity::GatewayTrust> trust);
  // Live connections by the root their peer chains to, over all workers.
  std::map<std::string, uint64_t> ConnectionsByRoot();

 private:
  ProxyServer(config::v1::ProxyConfig config, credentials::CredentialStore* store);

  const config::v1::ProxyConfig config_;
  credentials::CredentialStore* const store_;
  std::vector<std::unique_ptr<forward::ListenerContext>> contexts_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<BoundListener> bound_;
  std::atomic<bool> started_{false};
  std::atomic<bool> draining_{false};
  std::atomic<int> workers_drained_{0};
  sync::Notification drained_;
};

// A gateway listener's identity rule, allow rules and trust store (files
// read now); errors name the field.
absl::StatusOr<forward::GatewayContext> GatewayOf(const config::v1::GatewayClients& gateway);
// The listener context of one configured listener (exposed for tests).
absl::StatusOr<std::unique_ptr<forward::ListenerContext>> InboundContext(
    const config::v1::InboundListener& in, const config::v1::RuntimeConfig& runtime);
absl::StatusOr<std::unique_ptr<forward::ListenerContext>> OutboundContext(
    const config::v1::OutboundListener& out, const config::v1::RuntimeConfig& runtime);

}  // namespace palisade::server

#endif  // PALISADE_PROXY_SERVER_PROXY_SERVER_H_
