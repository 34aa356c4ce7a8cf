// The proxy's admin endpoints on an http::HttpServer: /metrics, /healthz, /ready,
// /certs, /config, /listeners, POST /drain (after which the process exits
// once drained: main.cc) and POST /reload (the whole configuration file, as
// SIGHUP). Only loopback names and the bound address may call them, and the
// POSTs only as same-origin application/json requests.
#ifndef PALISADE_PROXY_ADMIN_PROXY_ADMIN_H_
#define PALISADE_PROXY_ADMIN_PROXY_ADMIN_H_

#include <functional>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "proto/palisade/config/v1/config.pb.h"
#include "proxy/credentials/credential_store.h"
#include "proxy/metrics/proxy_metrics.h"
#include "proxy/server/proxy_server.h"
#include "runtime/http/http_server.h"

namespace palisade::admin {

struct ProxyAdminSources {
  metrics::ProxyMetrics* metrics = nullptr;
  credentials::CredentialStore* store = nullptr;
  server::ProxyServer* server = nullptr;
  // The config started with (its admin section holds for the process's
  // life); /config shows server->config(), the one reloads left.
  const config::v1::ProxyConfig* config = nullptr;
  // Starts the drain that ends the process.
  std::function<void()> begin_drain;
  // Re-reads the configuration file (POST /reload); unset: no such route.
  std::function<http::HttpResponse()> reload;
  std::function<absl::Time()> clock = [] { return absl::Now(); };
};

// Empty when ready; otherwise why not (for /ready's 503 body).
std::string NotReadyReason(const ProxyAdminSources& sources);

void InstallProxyAdminRoutes(http::HttpServer* http, ProxyAdminSources sources);
// Only /healthz, /ready and /metrics: for a port others can reach.
void InstallPublicRoutes(http::HttpServer* http, ProxyAdminSources sources);

// /certs as JSON (exposed for tests).
std::string CertsJson(const credentials::CredentialSnapshot* snapshot, absl::Time now);

}  // namespace palisade::admin

#endif  // PALISADE_PROXY_ADMIN_PROXY_ADMIN_H_
