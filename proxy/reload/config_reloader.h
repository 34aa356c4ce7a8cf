// A full reload of the proxy's configuration file, for SIGHUP and POST
// /reload alike: load and validate the whole file, refuse it when it changes
// more than the listeners (those fields need a restart), apply the listener
// changes to the running server, and log and count each outcome. A refused
// file changes nothing.
#ifndef PALISADE_PROXY_RELOAD_CONFIG_RELOADER_H_
#define PALISADE_PROXY_RELOAD_CONFIG_RELOADER_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "proxy/metrics/proxy_metrics.h"
#include "proxy/server/proxy_server.h"
#include "runtime/http/http_server.h"
#include "runtime/sync/mutex.h"

namespace palisade::reload {

struct ReloadOutcome {
  // One of metrics::ProxyMetrics::kConfigReloadResults.
  std::string result;
  absl::Status status;  // why not, unless "ok"
  server::ReloadSummary summary;
};

// Thread-safe: one reload runs at a time.
class ConfigReloader {
 public:
  // `listener_metrics`: create the connection series of added listeners
  // (metrics.enabled).
  // `after_reload` runs after each reload that applied, with the new
  // running configuration (one reload at a time).
  ConfigReloader(std::string path, server::ProxyServer* server, metrics::ProxyMetrics* metrics,
                 bool listener_metrics,
                 std::function<void(const config::v1::ProxyConfig&)> after_reload = nullptr);

  // `cause` ("SIGHUP", "POST /reload") goes into the log line.
  ReloadOutcome Reload(const std::string& cause);

 private:
  const std::string path_;
  server::ProxyServer* const server_;
  metrics::ProxyMetrics* const metrics_;
  const bool listener_metrics_;
  const std::function<void(const config::v1::ProxyConfig&)> after_reload_;
  sync::Mutex mutex_;
};

// POST /reload's answer: 200 with what changed; 400 (invalid), 409
// (requires_restart) or 500 (failed) with the error naming the field.
http::HttpResponse ToHttpResponse(const ReloadOutcome& outcome);

}  // namespace palisade::reload

#endif  // PALISADE_PROXY_RELOAD_CONFIG_RELOADER_H_
