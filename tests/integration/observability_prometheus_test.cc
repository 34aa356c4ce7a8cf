// A real Prometheus server scrapes two running proxies; after a known number
// of good and refused handshakes, its HTTP API reports the handshake
// counters with the right peer identities and values, the dashboard's
// queries run, and the alert rules load and evaluate.
#include <nlohmann/json.hpp>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/integration/observability_support.h"
#include "tests/integration/prometheus_server.h"
#include "tests/integration/proxy_fixture.h"
#include "tests/util/control_process.h"
#include "tests/util/loopback.h"

namespace palisade::testing {
namespace {

constexpr char kIntruderId[] = "spiffe://cluster.local/ns/other/sa/intruder";
constexpr int kGood = 6;
constexpr int kIntruders = 3;
constexpr int kNoCertificate = 2;

class ObservabilityPrometheusTest : public TwoHopMesh {
 protected:
  void SetUp() override {
    TwoHopMesh::SetUp();
    StartInbound();
    StartOutbound();
    // The test's Prometheus loads the project's alert rules too.
    auto prometheus = PrometheusServer::Start(
        dir(), {inbound_->admin_url().substr(7), outbound_->admin_url().substr(7)},
        {std::string(kAlertRulesPath)});
    ASSERT_TRUE(prometheus.ok()) << prometheus.status();
    prometheus_ = *std::move(prometheus);
  }

  // Waits until `promql` (one sample) equals `want`.
  bool WaitForValue(const std::string& promql, double want) {
    absl::StatusOr<double> last;
    const bool ok = WaitFor(
        [&] {
          last = prometheus_->QueryScalar(promql);
          return last.ok() && *last == want;
        },
        absl::Seconds(30), absl::Milliseconds(250));
    if (!ok) {
      ADD_FAILURE() << promql << ": want " << want << ", last "
                    << (last.ok() ? absl::StrCat(*last) : last.status().ToString());
    }
    return ok;
  }

  std::unique_ptr<PrometheusServer> prometheus_;
};

TEST_F(ObservabilityPrometheusTest, CountsHandshakesByPeerIdentityAsPrometheusSeesThem) {
  for (int i = 0; i < kGood; ++i) ASSERT_EQ(SendAndReadToEnd(outbound_port_, "ping"), "ping");
  pki().WriteFiles(dir(), "intruder", pki().IssueLeaf("/ns/other/sa/intruder"));
  for (int i = 0; i < kIntruders; ++i) SClient(inbound_port_, dir(), "intruder");
  for (int i = 0; i < kNoCertificate; ++i) SClient(inbound_port_, dir(), "");

  const std::string in = absl::StrCat("instance=\"", inbound_->admin_url().substr(7), "\"");
  const std::string out = absl::StrCat("instance=\"", outbound_->admin_url().substr(7), "\"");
  // The backend's proxy saw the frontend succeed, the intruder refused by
  // policy (named), and clients without a certificate (no peer to name:
  // peer_identity="none", never an empty value).
  WaitForValue(absl::StrCat("sum(palisade_handshakes_total{", in,
                            ", direction=\"inbound\", result=\"success\", peer_identity=\"",
                            kFrontendId, "\"})"),
               kGood);
  WaitForValue(absl::StrCat("sum(palisade_handshakes_total{", in,
                            ", result=\"failure\", reason=\"not_authorized\", peer_identity=\"",
                            kIntruderId, "\"})"),
               kIntruders);
  WaitForValue(
      absl::StrCat("sum(palisade_handshakes_total{", in,
                   ", result=\"failure\", reason=\"no_certificate\", peer_identity=\"none\"})"),
      kNoCertificate);
  WaitForValue(absl::StrCat("sum(palisade_authorization_denials_total{", in, ", peer_identity=\"",
                            kIntruderId, "\"})"),
               kIntruders);
  // The frontend's proxy saw the backend on every outbound handshake.
  WaitForValue(absl::StrCat("sum(palisade_handshakes_total{", out,
                            ", direction=\"outbound\", result=\"success\", peer_identity=\"",
                            kBackendId, "\"})"),
               kGood);
  // Nothing else: every handshake is one of the above.
  EXPECT_EQ(*prometheus_->QueryScalar(absl::StrCat("sum(palisade_handshakes_total{", in, "})")),
            kGood + kIntruders + kNoCertificate);
  EXPECT_EQ(*prometheus_->QueryScalar(absl::StrCat("sum(palisade_handshakes_total{", out, "})")),
            kGood);

  // The dashboard's join: each proxy's own identity from palisade_svid_info.
  absl::StatusOr<nlohmann::json> pairs = prometheus_->Query(
      "sum by (spiffe_id, peer_identity, result) "
      "(palisade_handshakes_total{peer_identity!=\"none\"} "
      "* on (instance) group_left (spiffe_id) palisade_svid_info)");
  ASSERT_TRUE(pairs.ok()) << pairs.status();
  std::map<std::string, double> by_pair;
  for (const auto& sample : *pairs) {
    const auto& m = sample["metric"];
    by_pair[absl::StrCat(m.value("spiffe_id", ""), " ", m.value("peer_identity", ""), " ",
                         m.value("result", ""))] = std::stod(sample["value"][1].get<std::string>());
  }
  EXPECT_EQ(by_pair[absl::StrCat(kBackendId, " ", kFrontendId, " success")], kGood);
  EXPECT_EQ(by_pair[absl::StrCat(kFrontendId, " ", kBackendId, " success")], kGood);
  EXPECT_EQ(by_pair[absl::StrCat(kBackendId, " ", kIntruderId, " failure")], kIntruders);
  EXPECT_EQ(by_pair.size(), 3u);
}

TEST_F(ObservabilityPrometheusTest, RunsEveryDashboardQuery) {
  ASSERT_EQ(SendAndReadToEnd(outbound_port_, "ping"), "ping");
  WaitForValue("count(up{job=\"palisade\"} == 1)", 2);
  const nlohmann::json dashboard =
      nlohmann::json::parse(ReadFileOrEmpty(kDashboardPath), nullptr, false);
  ASSERT_FALSE(dashboard.is_discarded());
  for (const std::string& query : DashboardQueries(dashboard)) {
    const std::string promql = ExpandGrafanaVariables(query);
    absl::StatusOr<nlohmann::json> result = prometheus_->Query(promql);
    EXPECT_TRUE(result.ok()) << result.status();
  }
  // The proxy-instance variable lists both proxies.
  absl::StatusOr<nlohmann::json> instances =
      prometheus_->Query("palisade_svid_info{job=\"palisade\"}");
  ASSERT_TRUE(instances.ok());
  EXPECT_EQ(instances->size(), 2u);
}

// Issue 19, item 6: a Prometheus scraping a real palisade-control runs every
// query of the control plane's dashboard, and the expiry and connected-proxy
// panels have data.
TEST(ObservabilityControlDashboardTest, RunsEveryControlDashboardQueryAgainstARealControlPlane) {
  absl::StatusOr<std::unique_ptr<ControlProcess>> control =
      ControlProcess::Start(MakeTempDir("dashboard-control"));
  ASSERT_TRUE(control.ok()) << control.status();
  auto prometheus =
      PrometheusServer::Start(MakeTempDir("dashboard-prometheus"), {(*control)->admin_address()});
  ASSERT_TRUE(prometheus.ok()) << prometheus.status();
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<nlohmann::json> r = (*prometheus)->Query("palisade_control_bundle_version");
        return r.ok() && !r->empty();
      },
      absl::Seconds(30), absl::Milliseconds(250)));
  const nlohmann::json dashboard =
      nlohmann::json::parse(ReadFileOrEmpty(kControlDashboardPath), nullptr, false);
  ASSERT_FALSE(dashboard.is_discarded());
  int with_data = 0;
  for (const std::string& query : DashboardQueries(dashboard)) {
    const std::string promql = ExpandGrafanaVariables(query);
    absl::StatusOr<nlohmann::json> result = (*prometheus)->Query(promql);
    ASSERT_TRUE(result.ok()) << promql << ": " << result.status();
    if (!result->empty()) ++with_data;
  }
  for (const char* promql : {"palisade_control_ca_expiry_timestamp_seconds - time() > 0",
                             "palisade_control_bundle_expiry_timestamp_seconds - time() > 0",
                             "palisade_control_streams_connected",
                             "palisade_control_rollover_phase{phase=\"idle\"} == 1"}) {
    absl::StatusOr<nlohmann::json> result = (*prometheus)->Query(promql);
    ASSERT_TRUE(result.ok()) << promql;
    EXPECT_EQ(result->size(), 1u) << promql << ": " << result->dump();
  }
  EXPECT_GE(with_data, 8);
}

TEST_F(ObservabilityPrometheusTest, LoadsTheAlertRulesAndFiresNoneOnAHealthyMesh) {
  ASSERT_EQ(SendAndReadToEnd(outbound_port_, "ping"), "ping");
  absl::StatusOr<nlohmann::json> groups;
  ASSERT_TRUE(WaitFor(
      [&] {
        const HttpResult r = HttpGet(prometheus_->url() + "/api/v1/rules");
        const nlohmann::json body = nlohmann::json::parse(r.body, nullptr, false);
        if (body.is_discarded() || !body.contains("data")) return false;
        groups = body["data"]["groups"];
        // Every rule evaluated at least once.
        for (const auto& group : *groups) {
          for (const auto& rule : group["rules"]) {
            if (rule.value("health", "") != "ok") return false;
          }
        }
        return !groups->empty();
      },
      absl::Seconds(30), absl::Milliseconds(250)))
      << (groups.ok() ? groups->dump(2) : "no rules");
  int rules = 0;
  for (const auto& group : *groups) rules += group["rules"].size();
  EXPECT_GE(rules, 6);
  // Healthy proxies with fresh SVIDs and file identity: nothing pending or
  // firing (ALERTS has no series).
  absl::StatusOr<nlohmann::json> alerts = prometheus_->Query("ALERTS");
  ASSERT_TRUE(alerts.ok());
  EXPECT_TRUE(alerts->empty()) << alerts->dump(2);
}

}  // namespace
}  // namespace palisade::testing
