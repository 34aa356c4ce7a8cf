#include "proxy/gateway/gateway_watchers.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/log/logging.h"

namespace palisade::gateway {

absl::Status GatewayWatchers::Follow(const config::v1::ProxyConfig& config) {
  std::map<std::string, Watched> next;
  for (const config::v1::InboundListener& in : config.inbound()) {
    if (!in.has_gateway()) continue;
    const forward::ListenerContext* context = server_->ListenerContextOf(in.name());
    if (context == nullptr) continue;
    auto running = watched_.find(in.name());
    if (running != watched_.end() && running->second.context == context) {
      next[in.name()] = std::move(running->second);  // the listener did not change
      continue;
    }
    if (metrics_ != nullptr) metrics_->AddGatewayListener(in.name());
    absl::StatusOr<std::unique_ptr<GatewayTrustFiles>> files = Watch(in, context);
    if (!files.ok()) {
      return absl::Status(files.status().code(),
                          absl::StrCat("cannot watch the gateway trust files of listener ",
                                       in.name(), ": ", files.status().message()));
    }
    next[in.name()] = Watched{context, *std::move(files)};
  }
  watched_ = std::move(next);  // joins the watchers of removed and replaced listeners
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<GatewayTrustFiles>> GatewayWatchers::Watch(
    const config::v1::InboundListener& listener, const forward::ListenerContext* context) {
  server::ProxyServer* server = server_;
  metrics::ProxyMetrics* metrics = metrics_;
  return GatewayTrustFiles::Watch(
      listener.gateway(),
      [server, metrics, context,
       name = listener.name()](std::shared_ptr<const identity::GatewayTrust> trust) {
        log::Log(log::Level::kInfo, "gateway trust store reloaded; new handshakes use it",
                 {{"listener", name},
                  {"ca_certificates", trust->root_count()},
                  {"crls", trust->crl_count()}});
        server->UpdateGatewayTrust(context, std::move(trust));
        if (metrics != nullptr) metrics->OnGatewayTrustReload(name, true);
      },
      [metrics, name = listener.name()](const absl::Status& status) {
        if (metrics != nullptr) metrics->OnGatewayTrustReload(name, false);
        log::Log(log::Level::kWarn, "gateway trust files refused; the running trust store stays",
                 {{"listener", name}, {"error", std::string(status.message())}});
      });
}

}  // namespace palisade::gateway
