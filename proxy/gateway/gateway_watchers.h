// The file watchers of the running gateway listeners' trust stores and CRLs,
// kept in step with the listeners: started for each gateway listener at
// start, and after a reload started again for every gateway listener the
// reload added or changed (its context is new) and stopped for those it
// removed. A reloaded store goes to the listener context it was read for, so
// a watcher of a replaced listener can never feed the new one old files.
#ifndef PALISADE_PROXY_GATEWAY_GATEWAY_WATCHERS_H_
#define PALISADE_PROXY_GATEWAY_GATEWAY_WATCHERS_H_

#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "proto/palisade/config/v1/config.pb.h"
#include "proxy/gateway/gateway_trust_files.h"
#include "proxy/metrics/proxy_metrics.h"
#include "proxy/server/proxy_server.h"

namespace palisade::gateway {

// Not thread-safe: Follow is called at start and by the reloader, one at a
// time. The watchers' own threads only publish to the server.
class GatewayWatchers {
 public:
  // `metrics` may be null (metrics disabled).
  GatewayWatchers(server::ProxyServer* server, metrics::ProxyMetrics* metrics)
      : server_(server), metrics_(metrics) {}

  // Watches the gateway listeners of `config` (the running one). An error
  // names the listener; the watchers already running stay.
  absl::Status Follow(const config::v1::ProxyConfig& config);
  // Joins every watcher thread.
  void Stop() { watched_.clear(); }

 private:
  struct Watched {
    const forward::ListenerContext* context = nullptr;
    std::unique_ptr<GatewayTrustFiles> files;
  };
  absl::StatusOr<std::unique_ptr<GatewayTrustFiles>> Watch(
      const config::v1::InboundListener& listener, const forward::ListenerContext* context);

  server::ProxyServer* const server_;
  metrics::ProxyMetrics* const metrics_;
  std::map<std::string, Watched> watched_;  // by listener name
};

}  // namespace palisade::gateway

#endif  // PALISADE_PROXY_GATEWAY_GATEWAY_WATCHERS_H_
