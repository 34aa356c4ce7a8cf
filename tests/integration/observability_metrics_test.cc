// What /metrics exports, checked with independent tools: promtool accepts
// it, and every metric that the Grafana dashboard and the alert rules in
// deploy/ query is one that a live proxy exports.
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/version.h"
#include "tests/integration/observability_support.h"
#include "tests/integration/prometheus_server.h"
#include "tests/integration/proxy_fixture.h"
#include "tests/util/loopback.h"
#include "tests/util/process.h"
#include "tests/util/prometheus_text.h"
#include "tests/util/status_matchers.h"

namespace palisade::testing {
namespace {

class ObservabilityMetricsTest : public TwoHopMesh {
 protected:
  void SetUp() override {
    TwoHopMesh::SetUp();
    // A listener whose app is down, for connection errors.
    ProxyYaml config = InboundConfig();
    config.AddInbound("in-dead", absl::StrCat("127.0.0.1:", PickFreeLoopbackPort()))
        .authorization.spiffe_ids = {kFrontendId};
    StartInbound(config);
    StartOutbound();
    // Some of every kind of event, so labelled families have samples.
    ASSERT_EQ(SendAndReadToEnd(outbound_port_, "ping"), "ping");
    ASSERT_EQ(SendAndReadToEnd(outbound_port_, "ping"), "ping");  // resumes
    SClient(*inbound_->ListenerPort("in-dead"), dir(), "frontend");
    pki().WriteFiles(dir(), "intruder", pki().IssueLeaf("/ns/other/sa/intruder"));
    SClient(inbound_port_, dir(), "intruder");
    SClient(inbound_port_, dir(), "");
    EXPECT_TRUE(WaitFor(
        [&] {
          return MetricSum(inbound_->Metrics(), "palisade_handshakes_total",
                           {{"result", "failure"}}) >= 2 &&
                 MetricSum(inbound_->Metrics(), "palisade_connection_errors_total") >= 1;
        },
        absl::Seconds(10)));
  }

  // Both proxies' metric names: one is inbound-only, the other outbound-only.
  std::set<std::string> Exported() {
    std::set<std::string> names = ExportedMetricNames(inbound_->Metrics());
    names.merge(ExportedMetricNames(outbound_->Metrics()));
    return names;
  }
};

TEST_F(ObservabilityMetricsTest, PromtoolAcceptsTheMetricsOutput) {
  for (ProxyProcess* proxy : {inbound_, outbound_}) {
    const std::string text = proxy->Metrics();
    ASSERT_NE(text.find("palisade_handshakes_total"), std::string::npos) << text;
    const CommandResult r = RunCommand({"promtool", "check", "metrics"}, absl::Seconds(30), text);
    EXPECT_EQ(r.exit_code, 0) << r.output << "\n--- /metrics:\n" << text;
  }
}

// Issue 19, item 5, on both binaries: build info, the process metrics of the
// Prometheus client conventions with plausible values, every connection
// error series at zero before any such error, no empty label value (an empty
// value reads as a missing label), and promtool accepts palisade-control's
// /metrics too.
TEST_F(ObservabilityMetricsTest, BothBinariesExportBuildAndProcessMetricsWithNoEmptyLabel) {
  ASSERT_OK(mesh_.StartControl());
  const std::string control = HttpGet(mesh_.control().admin_url() + "/metrics").body;
  const double now = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
  for (const auto& [who, text] :
       {std::pair<std::string, std::string>{"inbound", inbound_->Metrics()},
        {"outbound", outbound_->Metrics()},
        {"control", control}}) {
    SCOPED_TRACE(who);
    EXPECT_EQ(MetricValue(text, "palisade_build_info", {{"version", kVersion}}), 1) << text;
    EXPECT_GT(MetricValue(text, "process_resident_memory_bytes").value_or(0), 1 << 20);
    EXPECT_GT(MetricValue(text, "process_open_fds").value_or(0), 3);
    EXPECT_GT(MetricValue(text, "process_cpu_seconds_total").value_or(-1), 0);
    const double start = MetricValue(text, "process_start_time_seconds").value_or(0);
    EXPECT_LE(start, now + 1);
    EXPECT_GT(start, now - 120);
    EXPECT_EQ(text.find("=\"\""), std::string::npos) << text;
    const CommandResult r = RunCommand({"promtool", "check", "metrics"}, absl::Seconds(30), text);
    EXPECT_EQ(r.exit_code, 0) << r.output;
  }
  // The outbound proxy never had a connection error: its series are there, at 0.
  EXPECT_EQ(MetricValue(outbound_->Metrics(), "palisade_connection_errors_total",
                        {{"listener", "out"}, {"reason", "connect_refused"}, {"side", "upstream"}}),
            0);
  EXPECT_EQ(
      MetricValue(control, "palisade_control_refusals_total", {{"reason", "join_token_unknown"}}),
      0);
  // CPU time only grows.
  const double cpu = MetricValue(inbound_->Metrics(), "process_cpu_seconds_total").value_or(0);
  for (int i = 0; i < 20; ++i) ASSERT_EQ(SendAndReadToEnd(outbound_port_, "ping"), "ping");
  EXPECT_TRUE(WaitFor(
      [&] {
        return MetricValue(inbound_->Metrics(), "process_cpu_seconds_total").value_or(0) > cpu;
      },
      absl::Seconds(10), absl::Milliseconds(200)));
}

// Issue 19, item 5: the identity port's handshake results and suppressed
// refusal lines are there at 0 before the first one (increase() sees it),
// and the CA's and the bundle's expiry are exported for the dashboard.
TEST_F(ObservabilityMetricsTest, ControlPlaneExportsEveryHandshakeOutcomeAtZeroAndItsCaExpiry) {
  ASSERT_OK(mesh_.StartControl());
  const std::string control = HttpGet(mesh_.control().admin_url() + "/metrics").body;
  for (const char* result :
       {"ok_svid", "ok_no_certificate", "untrusted_chain", "timeout", "not_tls", "peer_closed",
        "refused_max_connections", "refused_pending_evicted", "refused_first_byte_timeout",
        "refused_fd_limit", "refused_anonymous_per_source"}) {
    EXPECT_EQ(MetricValue(control, "palisade_control_tls_handshakes_total", {{"result", result}}),
              0)
        << result;
  }
  for (const char* key : {"untrusted_chain", "expired", "handshake_timeout", "handshake_not_tls",
                          "refused_max_connections", "refused_pending_evicted"}) {
    EXPECT_EQ(MetricValue(control, "palisade_control_tls_refusal_log_suppressed_total",
                          {{"reason", key}}),
              0)
        << key;
  }
  const double now = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
  EXPECT_GT(MetricValue(control, "palisade_control_ca_expiry_timestamp_seconds").value_or(0), now);
  EXPECT_GT(MetricValue(control, "palisade_control_bundle_expiry_timestamp_seconds").value_or(0),
            now);
}

TEST_F(ObservabilityMetricsTest, ExportsEveryMetricTheIssueAsksFor) {
  const std::set<std::string> exported = Exported();
  for (const char* name : {
           "palisade_handshakes_total",
           "palisade_handshake_duration_seconds_bucket",
           "palisade_handshakes_resumed_total",
           "palisade_peer_identities_folded_total",
           "palisade_authorization_denials_total",
           "palisade_connections_active",
           "palisade_connections_total",
           "palisade_connection_errors_total",
           "palisade_received_bytes_total",
           "palisade_sent_bytes_total",
           "palisade_identity_loss_in_seconds",
           "palisade_svid_expiry_timestamp_seconds",
           "palisade_svid_expires_in_seconds",
           "palisade_svid_info",
           "palisade_svid_rotations_total",
           "palisade_trust_bundle_roots",
           "palisade_trust_bundle_last_update_timestamp_seconds",
           "palisade_identity_client_connected",
           "palisade_identity_client_reconnects_total",
           "palisade_identity_client_last_renewal_timestamp_seconds",
       }) {
    EXPECT_TRUE(exported.count(name) > 0) << name;
  }
}

TEST_F(ObservabilityMetricsTest, EveryDashboardQueryNamesAnExportedMetric) {
  const nlohmann::json dashboard = nlohmann::json::parse(ReadFileOrEmpty(kDashboardPath), nullptr,
                                                         /*allow_exceptions=*/false);
  ASSERT_FALSE(dashboard.is_discarded()) << kDashboardPath << " is not valid JSON";
  const std::vector<std::string> queries = DashboardQueries(dashboard);
  ASSERT_GE(queries.size(), 10u);
  const std::set<std::string> exported = Exported();
  for (const std::string& query : queries) {
    const std::set<std::string> used = PalisadeMetricNamesIn(query);
    EXPECT_TRUE(!used.empty() || query.find("up{") != std::string::npos)
        << "a query with no palisade_ metric: " << query;
    for (const std::string& name : used) {
      EXPECT_TRUE(exported.count(name) > 0)
          << name << " in " << query << "\nexported: " << absl::StrJoin(exported, " ");
    }
  }
}

// Issue 19, item 6: both dashboards pick the scrape job by a variable; no
// query names a job of its own.
TEST_F(ObservabilityMetricsTest, BothDashboardsChooseTheirJobByAVariable) {
  for (const char* path : {kDashboardPath, kControlDashboardPath}) {
    SCOPED_TRACE(path);
    const nlohmann::json dashboard =
        nlohmann::json::parse(ReadFileOrEmpty(path), nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(dashboard.is_discarded()) << path << " is not valid JSON";
    bool has_job = false;
    for (const auto& variable : dashboard["templating"]["list"]) {
      if (variable.value("name", "") == "job") has_job = true;
    }
    EXPECT_TRUE(has_job) << "no \"job\" variable";
    const std::vector<std::string> queries = DashboardQueries(dashboard);
    ASSERT_FALSE(queries.empty());
    for (const std::string& query : queries) {
      EXPECT_EQ(query.find("job=\""), std::string::npos) << "a fixed job in: " << query;
      if (!PalisadeMetricNamesIn(query).empty() && query.rfind("label_values(", 0) != 0) {
        EXPECT_NE(query.find("job=~\"$job\""), std::string::npos) << "no job selector: " << query;
      }
    }
  }
}

// Issue 19, item 6: the control plane's dashboard reads only metrics that a
// running palisade-control exports.
TEST_F(ObservabilityMetricsTest, EveryControlDashboardQueryNamesAMetricTheControlPlaneExports) {
  ASSERT_OK(mesh_.StartControl());
  const std::set<std::string> exported =
      ExportedMetricNames(HttpGet(mesh_.control().admin_url() + "/metrics").body);
  const nlohmann::json dashboard = nlohmann::json::parse(ReadFileOrEmpty(kControlDashboardPath),
                                                         nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(dashboard.is_discarded()) << kControlDashboardPath << " is not valid JSON";
  const std::vector<std::string> queries = DashboardQueries(dashboard);
  ASSERT_GE(queries.size(), 8u);
  std::set<std::string> used_all;
  for (const std::string& query : queries) {
    const std::set<std::string> used = PalisadeMetricNamesIn(query);
    EXPECT_TRUE(!used.empty() || query.find("up{") != std::string::npos)
        << "a query with no palisade_ metric: " << query;
    for (const std::string& name : used) {
      used_all.insert(name);
      EXPECT_TRUE(exported.count(name) > 0)
          << name << " in " << query << "\nexported: " << absl::StrJoin(exported, " ");
    }
  }
  // What the issue asks the dashboard to show.
  for (const char* name :
       {"palisade_control_certificates_issued_total", "palisade_control_refusals_total",
        "palisade_control_streams_connected", "palisade_control_rollover_phase",
        "palisade_control_ca_expiry_timestamp_seconds",
        "palisade_control_bundle_expiry_timestamp_seconds"}) {
    EXPECT_TRUE(used_all.count(name) > 0) << name << " has no panel";
  }
}

TEST_F(ObservabilityMetricsTest, EveryAlertRuleNamesAnExportedMetric) {
  const std::string rules = ReadFileOrEmpty(kAlertRulesPath);
  ASSERT_FALSE(rules.empty()) << kAlertRulesPath;
  const std::set<std::string> used = PalisadeMetricNamesIn(rules);
  EXPECT_GE(used.size(), 5u);
  const std::set<std::string> exported = Exported();
  for (const std::string& name : used) EXPECT_TRUE(exported.count(name) > 0) << name;
}

}  // namespace
}  // namespace palisade::testing
