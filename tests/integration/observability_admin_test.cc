// The admin endpoints of a running proxy, through curl: each endpoint's
// status and content, /ready's 503 reasons, no key material in /config or
// /certs (POST /drain: proxy_drain_test.cc).
#include <nlohmann/json.hpp>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/integration/observability_support.h"
#include "tests/integration/proxy_fixture.h"
#include "tests/util/status_matchers.h"

namespace palisade::testing {
namespace {

class ObservabilityAdminTest : public TwoHopMesh {
 protected:
  HttpResult Get(ProxyProcess& proxy, const std::string& path) {
    return HttpGet(proxy.admin_url() + path);
  }

  // Lines of base64 in a PEM file (not the BEGIN/END lines).
  std::vector<std::string> PemBodyLines(const std::string& path) {
    std::vector<std::string> lines;
    for (absl::string_view line : absl::StrSplit(ReadFileOrEmpty(path), '\n')) {
      if (!line.empty() && line[0] != '-') lines.emplace_back(line);
    }
    return lines;
  }

  void ExpectNoKeyMaterial(const std::string& text, const std::string& what) {
    EXPECT_EQ(text.find("PRIVATE KEY"), std::string::npos) << what;
    const std::vector<std::string> key_lines = PemBodyLines(dir() + "/backend.key");
    ASSERT_FALSE(key_lines.empty());
    for (const std::string& line : key_lines) {
      EXPECT_EQ(text.find(line), std::string::npos) << what << " holds a line of the key";
    }
  }
};

TEST_F(ObservabilityAdminTest, HealthzAnswersOk) {
  StartInbound();
  const HttpResult r = Get(*inbound_, "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");
}

TEST_F(ObservabilityAdminTest, ReadyAnswers200WithAValidSvidAndBoundListeners) {
  StartInbound();
  const HttpResult r = Get(*inbound_, "/ready");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ready\n");
  EXPECT_EQ(MetricValue(inbound_->Metrics(), "palisade_ready"), 1);
}

TEST_F(ObservabilityAdminTest, ReadyAnswers503WithoutAnSvid) {
  CertSpec expired = pki().LeafSpec("/ns/shop/sa/backend");
  expired.not_before = absl::Now() - absl::Hours(2);
  expired.not_after = absl::Now() - absl::Hours(1);
  pki().WriteFiles(dir(), "backend", pki().IssueLeaf(expired));
  ProxyYaml config = IdentityConfig("backend", kBackendId);
  config.AddInbound("in", echo_->address());
  ASSERT_OK_AND_ASSIGN(ProxyProcess * proxy, mesh_.StartProxy("inbound", config));
  const HttpResult r = Get(*proxy, "/ready");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "not ready: no SVID loaded yet\n");
  EXPECT_EQ(MetricValue(proxy->Metrics(), "palisade_ready"), 0);
  const nlohmann::json certs = nlohmann::json::parse(Get(*proxy, "/certs").body, nullptr, false);
  EXPECT_TRUE(certs["svid"].is_null()) << certs.dump();
}

TEST_F(ObservabilityAdminTest, ReadyAnswers503OnceTheSvidExpires) {
  CertSpec short_lived = pki().LeafSpec("/ns/shop/sa/backend");
  short_lived.not_after = absl::Now() + absl::Seconds(4);
  pki().WriteFiles(dir(), "backend", pki().IssueLeaf(short_lived));
  StartInbound();
  EXPECT_TRUE(WaitFor([&] { return Get(*inbound_, "/ready").status == 503; }, absl::Seconds(15)));
  EXPECT_EQ(Get(*inbound_, "/ready").body, "not ready: the SVID has expired\n");
  EXPECT_LE(*MetricValue(inbound_->Metrics(), "palisade_svid_expires_in_seconds"), 0);
}

TEST_F(ObservabilityAdminTest, CertsDescribesTheSvidChainAndBundlesWithoutKeys) {
  StartInbound();
  const HttpResult r = Get(*inbound_, "/certs");
  ASSERT_EQ(r.status, 200);
  const nlohmann::json certs = nlohmann::json::parse(r.body, nullptr, false);
  ASSERT_FALSE(certs.is_discarded()) << r.body;
  EXPECT_EQ(certs["svid"]["spiffe_id"], kBackendId);
  EXPECT_EQ(certs["svid"]["chain"].size(), 2u);  // leaf and intermediate
  EXPECT_GT(certs["svid"]["expires_in_seconds"].get<int64_t>(), 0);
  EXPECT_LE(certs["svid"]["identity_loss_in_seconds"].get<int64_t>(),
            certs["svid"]["expires_in_seconds"].get<int64_t>());
  EXPECT_EQ(certs["trust_bundles"][kTrustDomain].size(), 1u);
  EXPECT_EQ(certs["source"], "files");
  ExpectNoKeyMaterial(r.body, "/certs");
}

TEST_F(ObservabilityAdminTest, ConfigShowsTheEffectiveConfigWithoutKeyMaterial) {
  StartInbound();
  const HttpResult r = Get(*inbound_, "/config");
  ASSERT_EQ(r.status, 200);
  const nlohmann::json config = nlohmann::json::parse(r.body, nullptr, false);
  ASSERT_FALSE(config.is_discarded()) << r.body;
  EXPECT_EQ(config["identity"]["spiffe_id"], kBackendId);
  EXPECT_EQ(config["inbound"][0]["name"], "in");
  // Defaults filled in: the effective config, not the file.
  EXPECT_EQ(config["metrics"]["max_peer_identities"], 1000);
  EXPECT_EQ(config["logging"]["format"], "text");
  ExpectNoKeyMaterial(r.body, "/config");
}

TEST_F(ObservabilityAdminTest, ListenersNamesEachBoundAddress) {
  StartInbound();
  const nlohmann::json list =
      nlohmann::json::parse(Get(*inbound_, "/listeners").body, nullptr, false);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["name"], "in");
  EXPECT_EQ(list[0]["direction"], "inbound");
  EXPECT_NE(list[0]["address"].get<std::string>().find("127.0.0.1:"), std::string::npos);
}

TEST_F(ObservabilityAdminTest, MetricsIsPrometheusTextFormat) {
  StartInbound();
  const CommandResult r =
      RunCommand({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{content_type}",
                  inbound_->admin_url() + "/metrics"});
  EXPECT_EQ(r.output, "200 text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(MetricValue(inbound_->Metrics(), "palisade_svid_info", {{"spiffe_id", kBackendId}}), 1);
}

TEST_F(ObservabilityAdminTest, RefusesUnknownPathsAndWrongMethods) {
  StartInbound();
  EXPECT_EQ(Get(*inbound_, "/nope").status, 404);
  EXPECT_EQ(Get(*inbound_, "/drain").status, 405) << "GET must not drain";
  EXPECT_EQ(HttpPost(inbound_->admin_url() + "/ready").status, 405);
  EXPECT_EQ(Get(*inbound_, "/ready").status, 200);
}

}  // namespace
}  // namespace palisade::testing
