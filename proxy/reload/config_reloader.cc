#include "proxy/reload/config_reloader.h"

#include <nlohmann/json.hpp>
#include <utility>

#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "proxy/config/config_loader.h"
#include "proxy/config/reload_diff.h"
#include "runtime/log/logging.h"

namespace palisade::reload {
namespace {

std::string Names(const std::vector<std::string>& names) {
  return names.empty() ? "none" : absl::StrJoin(names, ",");
}

}  // namespace

ConfigReloader::ConfigReloader(std::string path, server::ProxyServer* server,
                               metrics::ProxyMetrics* metrics, bool listener_metrics,
                               std::function<void(const config::v1::ProxyConfig&)> after_reload)
    : path_(std::move(path)),
      server_(server),
      metrics_(metrics),
      listener_metrics_(listener_metrics),
      after_reload_(std::move(after_reload)) {}

ReloadOutcome ConfigReloader::Reload(const std::string& cause) {
  sync::MutexLock lock(&mutex_);
  ReloadOutcome outcome;
  absl::StatusOr<config::v1::ProxyConfig> next = config::LoadProxyConfigFile(path_);
  if (!next.ok()) {
    outcome.result = "invalid";
    outcome.status = next.status();
  } else if (absl::Status s = config::CheckRestartFields(*server_->config(), *next); !s.ok()) {
    outcome.result = "requires_restart";
    outcome.status = s;
  } else if (absl::StatusOr<server::ReloadSummary> summary = server_->Reload(*next);
             !summary.ok()) {
    outcome.result = "failed";
    outcome.status = summary.status();
  } else {
    outcome.result = "ok";
    outcome.summary = *std::move(summary);
  }
  metrics_->OnConfigReload(outcome.result, absl::Now());
  if (outcome.result != "ok") {
    log::Log(log::Level::kError, "reload refused; the running configuration stays",
             {{"cause", cause},
              {"result", outcome.result},
              {"file", path_},
              {"error", std::string(outcome.status.message())}});
    return outcome;
  }
  for (const server::BoundListener& l : outcome.summary.added_bound) {
    if (listener_metrics_) metrics_->AddListener(l.name, l.direction);
    log::Log(log::Level::kInfo, "listening",
             {{"listener", l.name},
              {"direction", forward::DirectionName(l.direction)},
              {"address", l.address.ToString()}});
  }
  if (after_reload_) after_reload_(*next);
  log::Log(log::Level::kInfo, "configuration reloaded",
           {{"cause", cause},
            {"listeners_added", Names(outcome.summary.added)},
            {"listeners_removed", Names(outcome.summary.removed)},
            {"listeners_changed", Names(outcome.summary.changed)}});
  return outcome;
}

http::HttpResponse ToHttpResponse(const ReloadOutcome& outcome) {
  nlohmann::json body = {{"result", outcome.result}};
  int status = 200;
  if (outcome.result == "ok") {
    body["added"] = outcome.summary.added;
    body["removed"] = outcome.summary.removed;
    body["changed"] = outcome.summary.changed;
  } else {
    body["error"] = std::string(outcome.status.message());
    status = outcome.result == "invalid" ? 400 : outcome.result == "requires_restart" ? 409 : 500;
  }
  return http::HttpResponse{status, "application/json", body.dump(2) + "\n"};
}

}  // namespace palisade::reload
