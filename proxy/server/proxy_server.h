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

// What a reload changed, by listener name (file order).
struct ReloadSummary {
  std::vector<std::string> added;
  std::vector<std::string> removed;
  std::vector<std::string> changed;
  std::vector<BoundListener> added_bound;  // the added ones, where they listen
};

// Start/Drain/Stop from the main thread; Reload from any one thread at a
// time (serialized here); the queries are thread-safe.
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
  // the listeners, may ask earlier); then as the last reload left them.
  std::vector<BoundListener> listeners() const;
  // The effective configuration: the one started with, or the last reloaded.
  std::shared_ptr<const config::v1::ProxyConfig> config() const;
  bool draining() const { return draining_.load(); }
  absl::Duration DrainTimeout() const;
  bool started() const { return started_.load(); }
  // Applies a reloaded, validated config whose other fields equal the
  // running one's (config::CheckRestartFields): added listeners are bound
  // and accept by the time this returns; removed ones stop accepting and
  // their connections drain (drain timeout); changed ones keep their socket
  // when the address is the same, and new connections get the new settings.
  // An inbound authorization change re-judges live connections (closed
  // gracefully, "policy_changed", when their peer is no longer allowed).
  // Unchanged listeners are not touched. On error (a listener cannot be
  // built or bound; draining) nothing changed.
  absl::StatusOr<ReloadSummary> Reload(const config::v1::ProxyConfig& next);
  // The running context of listener `name` (nullptr when there is none);
  // a reload that changes the listener replaces it.
  const forward::ListenerContext* ListenerContextOf(const std::string& name);
  // A gateway listener's reloaded trust store, for new handshakes on every
  // worker; `listener` is the context the store was loaded for (a context a
  // reload has since replaced takes it harmlessly: no new connection uses it).
  void UpdateGatewayTrust(const forward::ListenerContext* listener,
                          std::shared_ptr<const identity::GatewayTrust> trust);
  // Live connections by the root their peer chains to, over all workers.
  std::map<std::string, uint64_t> ConnectionsByRoot();

 private:
  ProxyServer(config::v1::ProxyConfig config, credentials::CredentialStore* store);

  // Posts `changes[i]` to worker i and waits until all applied them.
  void ApplyOnWorkers(std::vector<Worker::ListenerChanges> changes);

  const config::v1::ProxyConfig config_;  // as started: what a restart would need
  credentials::CredentialStore* const store_;
  sync::Mutex reload_mutex_;  // one reload at a time; contexts_ change only under it
  std::vector<std::unique_ptr<forward::ListenerContext>> contexts_;
  // Contexts replaced or removed by reloads. Never freed: connections may
  // still point at them, and per-thread metric caches key on their address.
  std::vector<std::unique_ptr<forward::ListenerContext>> retired_;
  std::vector<std::unique_ptr<Worker>> workers_;
  mutable sync::Mutex mutex_;
  std::vector<BoundListener> bound_ ABSL_GUARDED_BY(mutex_);
  std::shared_ptr<const config::v1::ProxyConfig> current_ ABSL_GUARDED_BY(mutex_);
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
