// The admin API's routes over a real HttpServer, called with the CLI's own
// client (admin_client), against a fake control plane.
#include "control/admin/admin_api.h"

#include "control/admin/admin_client.h"
#include "gtest/gtest.h"
#include "runtime/http/http_server.h"
#include "tests/util/status_matchers.h"

namespace palisade::control::admin {
namespace {

constexpr char kToken[] = "5f0e1d2c3b4a59687766554433221100ffeeddccbbaa99887766554433221100";

class FakeControl final : public ControlApi {
 public:
  std::string MetricsText() override { return "palisade_control_streams_connected 3\n"; }
  std::string NotReadyReason() override { return not_ready; }
  nlohmann::json State() override { return {{"trust_domain", "example.org"}}; }
  std::string BundlePem() override { return "-----BEGIN CERTIFICATE-----\n"; }
  absl::StatusOr<nlohmann::json> CreateJoinToken(const std::string& spiffe_id, absl::Duration ttl,
                                                 bool single_use) override {
    if (spiffe_id == "bad") return absl::InvalidArgumentError("invalid SPIFFE ID");
    last_ttl = ttl;
    last_single_use = single_use;
    return nlohmann::json{{"token", "pjt.x.y"}, {"spiffe_id", spiffe_id}};
  }
  nlohmann::json ListJoinTokens() override { return nlohmann::json::array(); }
  absl::StatusOr<nlohmann::json> RevokeJoinToken(const std::string& id) override {
    if (id != "jt-1") return absl::NotFoundError("no such join token");
    return nlohmann::json{{"id", id}};
  }
  absl::StatusOr<nlohmann::json> Deregister(const std::string& spiffe_id) override {
    return nlohmann::json{{"spiffe_id", spiffe_id}, {"deregistered", true}};
  }
  absl::StatusOr<nlohmann::json> Reregister(const std::string& spiffe_id) override {
    return nlohmann::json{{"spiffe_id", spiffe_id}};
  }
  absl::StatusOr<nlohmann::json> StartRollover() override {
    if (rolling) return absl::FailedPreconditionError("a root rollover is already under way");
    rolling = true;
    return nlohmann::json{{"phase", "propagating"}};
  }
  nlohmann::json RolloverState() override { return {{"phase", rolling ? "propagating" : "idle"}}; }

  std::string not_ready;
  bool rolling = false;
  absl::Duration last_ttl;
  bool last_single_use = false;
};

class AdminApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InstallAdminRoutes(&http_, &fake_,
                       http::RequestGuard({*net::SocketAddress::Parse("127.0.0.1:0"), {}, kToken}));
    ASSERT_OK(http_.Start(*net::SocketAddress::Parse("127.0.0.1:0")));
    address_ = http_.address().ToString();
  }
  AdminResponse Call(const std::string& method, const std::string& path,
                     const std::string& body = "") {
    absl::StatusOr<AdminResponse> r = AdminRequest(address_, method, path, body, kToken);
    EXPECT_OK(r.status());
    return r.ok() ? *r : AdminResponse{};
  }

  FakeControl fake_;
  http::HttpServer http_;
  std::string address_;
};

TEST_F(AdminApiTest, ServesMetricsHealthStateAndBundle) {
  EXPECT_EQ(Call("GET", "/metrics").body, "palisade_control_streams_connected 3\n");
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
  EXPECT_EQ(nlohmann::json::parse(Call("GET", "/api/v1/state").body)["trust_domain"],
            "example.org");
  EXPECT_EQ(Call("GET", "/api/v1/bundle.pem").body, "-----BEGIN CERTIFICATE-----\n");
}

TEST_F(AdminApiTest, ReadyIs503WithTheReasonUntilReady) {
  fake_.not_ready = "starting";
  AdminResponse r = Call("GET", "/ready");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "not ready: starting\n");
  fake_.not_ready = "";
  EXPECT_EQ(Call("GET", "/ready").status, 200);
}

TEST_F(AdminApiTest, CreatesTokensWithDefaultsAndValidatesTheBody) {
  AdminResponse r = Call("POST", "/api/v1/tokens", R"({"spiffe_id": "spiffe://example.org/a"})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(fake_.last_ttl, absl::Hours(1));
  EXPECT_TRUE(fake_.last_single_use);
  Call("POST", "/api/v1/tokens",
       R"({"spiffe_id": "spiffe://example.org/a", "ttl_seconds": 0, "single_use": false})");
  EXPECT_EQ(fake_.last_ttl, absl::ZeroDuration());
  EXPECT_FALSE(fake_.last_single_use);
  EXPECT_EQ(Call("POST", "/api/v1/tokens", "{").status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/tokens", "{}").status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/tokens", R"({"spiffe_id": "x", "ttl_seconds": -1})").status, 400);
  AdminResponse bad = Call("POST", "/api/v1/tokens", R"({"spiffe_id": "bad"})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(nlohmann::json::parse(bad.body)["error"], "invalid SPIFFE ID");
}

TEST_F(AdminApiTest, MapsErrorsToHttpStatuses) {
  EXPECT_EQ(Call("POST", "/api/v1/tokens/revoke", R"({"id": "jt-9"})").status, 404);
  EXPECT_EQ(Call("POST", "/api/v1/tokens/revoke", R"({"id": "jt-1"})").status, 200);
  EXPECT_EQ(Call("POST", "/api/v1/rollover/start").status, 200);
  EXPECT_EQ(Call("POST", "/api/v1/rollover/start").status, 409);
  EXPECT_EQ(nlohmann::json::parse(Call("GET", "/api/v1/rollover").body)["phase"], "propagating");
  EXPECT_EQ(Call("POST", "/api/v1/rollover/status").status, 200);
  EXPECT_EQ(Call("GET", "/api/v1/deregister").status, 405);
  EXPECT_EQ(Call("GET", "/nope").status, 404);
}

TEST_F(AdminApiTest, RoutesThatChangeOrListCredentialsNeedTheCredential) {
  for (const auto& [method, path] :
       std::vector<std::pair<std::string, std::string>>{{"POST", "/api/v1/tokens"},
                                                        {"POST", "/api/v1/tokens/revoke"},
                                                        {"POST", "/api/v1/deregister"},
                                                        {"POST", "/api/v1/register"},
                                                        {"POST", "/api/v1/rollover/start"},
                                                        {"GET", "/api/v1/tokens"}}) {
    absl::StatusOr<AdminResponse> r =
        AdminRequest(address_, method, path, R"({"spiffe_id": "spiffe://example.org/a"})");
    ASSERT_OK(r.status());
    EXPECT_EQ(r->status, 401) << method << " " << path;
  }
  EXPECT_FALSE(fake_.rolling);
  absl::StatusOr<AdminResponse> state = AdminRequest(address_, "GET", "/api/v1/state");
  ASSERT_OK(state.status());
  EXPECT_EQ(state->status, 200) << "the overview page reads it without a credential";
}

TEST_F(AdminApiTest, ClientNamesAnUnreachableServer) {
  absl::StatusOr<AdminResponse> r = AdminRequest("127.0.0.1:1", "GET", "/healthz");
  EXPECT_THAT(r, palisade::testing::StatusIs(absl::StatusCode::kUnavailable,
                                             ::testing::HasSubstr("cannot reach")));
}

}  // namespace
}  // namespace palisade::control::admin
