// Helpers for the observability tests: traffic through a TwoHopMesh (good
// round trips, refused handshakes by openssl s_client) and the metric names
// that /metrics exports or that a PromQL expression uses.
#ifndef PALISADE_TESTS_INTEGRATION_OBSERVABILITY_SUPPORT_H_
#define PALISADE_TESTS_INTEGRATION_OBSERVABILITY_SUPPORT_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "tests/util/subprocess.h"

namespace palisade::testing {

// An mTLS client (openssl s_client) to 127.0.0.1:port presenting
// <dir>/<name>.pem and .key, or no certificate when `name` is empty. Sends a
// line and gives up after a few seconds.
CommandResult SClient(uint16_t port, const std::string& dir, const std::string& name);

// Names of the metric families in Prometheus text output (# TYPE lines),
// with _bucket, _sum and _count for histograms.
std::set<std::string> ExportedMetricNames(const std::string& metrics_text);

// Every palisade_* name that `text` (PromQL, or a whole rules file) mentions.
std::set<std::string> PalisadeMetricNamesIn(const std::string& text);

// Every "expr" of every target, and every templating query, of a Grafana
// dashboard (nested rows included).
std::vector<std::string> DashboardQueries(const nlohmann::json& dashboard);

// `expr` with Grafana's variables replaced so Prometheus can run it.
std::string ExpandGrafanaVariables(std::string expr);

inline constexpr char kDashboardPath[] = "deploy/grafana/palisade-mesh.json";
inline constexpr char kControlDashboardPath[] = "deploy/grafana/palisade-control.json";
inline constexpr char kAlertRulesPath[] = "deploy/prometheus/palisade-alerts.yml";

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_INTEGRATION_OBSERVABILITY_SUPPORT_H_
