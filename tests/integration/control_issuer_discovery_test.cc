// palisade-control fetching the service-account keys from the issuer
// (--sa_issuer_discovery) as a real process, against a local HTTPS server
// that plays the Kubernetes API server's discovery and JWKS endpoints: a
// token signed by a discovered key bootstraps, a rotated key is fetched on
// demand, broken answers never replace good keys, unknown-kid refreshes are
// rate-limited, and every outcome is counted.
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/identity_stream.h"
#include "tests/util/fake_issuer.h"
#include "tests/util/process.h"
#include "tests/util/prometheus_text.h"
#include "tests/util/test_jwt.h"

namespace palisade::testing {
namespace {

using ::testing::Each;
using ::testing::HasSubstr;

constexpr char kAudience[] = "palisade";
constexpr char kCartId[] = "spiffe://example.org/ns/shop/sa/cart";

class ControlIssuerDiscoveryTest : public ::testing::Test {
 protected:
  ControlIssuerDiscoveryTest()
      : dir_(MakeTempDir("issuer_discovery")), issuer_(dir_, keys_.JwksJson()) {}

  void TearDown() override {
    if (control_ != nullptr && control_->process().Running()) {
      EXPECT_EQ(control_->process().Stop(), 0) << control_->process().Output();
    }
  }

  void StartControl(std::vector<std::string> extra = {}) {
    token_file_ = dir_ + "/sa-token";
    ASSERT_TRUE(WriteFile(token_file_, "reader-token-1\n"));
    std::vector<std::string> flags = {"--sa_issuer_discovery",
                                      "--sa_issuer=" + issuer_.issuer(),
                                      "--sa_audience=" + std::string(kAudience),
                                      "--sa_issuer_ca_file=" + issuer_.ca_file(),
                                      "--sa_issuer_token_file=" + token_file_,
                                      "--sa_issuer_timeout=3s"};
    flags.insert(flags.end(), extra.begin(), extra.end());
    auto control = ControlProcess::Start(dir_, flags);
    ASSERT_TRUE(control.ok()) << control.status();
    control_ = *std::move(control);
  }

  // The status of bootstrapping with a token `signer` signed (alg ES256).
  grpc::StatusCode BootstrapWith(const TestJwtIssuer& signer) {
    auto stream = IdentityStream::Open(*control_);
    EXPECT_TRUE(stream.ok()) << stream.status();
    if (!stream.ok()) return grpc::StatusCode::UNKNOWN;
    bssl::UniquePtr<EVP_PKEY> key;
    (*stream)->Write(
        HelloRequest("", signer.Sign("ES256", TestJwtIssuer::Claims(issuer_.issuer(), kAudience,
                                                                    "shop", "cart", absl::Now()))));
    (*stream)->Write(CsrRequest(kCartId, &key));
    return (*stream)->Drain().error_code();
  }

  std::string Metrics() { return HttpGet(control_->admin_url() + "/metrics").body; }
  double Refreshes(const std::string& result) {
    return MetricSum(Metrics(), "palisade_control_jwks_refreshes_total", {{"result", result}});
  }
  // Waits (bounded) until `result` was counted `count` times.
  bool WaitForRefreshes(const std::string& result, double count) {
    return WaitFor([&] { return Refreshes(result) >= count; }, absl::Seconds(15));
  }

  TestJwtIssuer keys_;
  std::string dir_;
  FakeIssuer issuer_;
  std::string token_file_;
  std::unique_ptr<ControlProcess> control_;
};

TEST_F(ControlIssuerDiscoveryTest, TokenSignedByTheDiscoveredKeyBootstrapsAnIdentity) {
  ASSERT_NO_FATAL_FAILURE(StartControl());
  EXPECT_EQ(BootstrapWith(keys_), grpc::StatusCode::OK) << control_->process().Output();
  TestJwtIssuer stranger("rsa-1", "ec-1");  // the same kids, other keys
  EXPECT_EQ(BootstrapWith(stranger), grpc::StatusCode::UNAUTHENTICATED);

  // Discovery, then the JWKS, both with the bearer token from the file.
  EXPECT_EQ(issuer_.discovery_requests(), 1);
  EXPECT_EQ(issuer_.jwks_requests(), 1);
  EXPECT_THAT(issuer_.authorizations(), Each(std::string("Bearer reader-token-1")));
  const std::string metrics = Metrics();
  EXPECT_EQ(MetricValue(metrics, "palisade_control_jwks_refreshes_total", {{"result", "ok"}}), 1);
  EXPECT_EQ(
      MetricValue(metrics, "palisade_control_jwks_refreshes_total", {{"result", "wrong_issuer"}}),
      0);  // every result exists from the start
  EXPECT_EQ(MetricValue(metrics, "palisade_control_jwks_keys"), 2);
  std::optional<double> age = MetricValue(metrics, "palisade_control_jwks_age_seconds");
  ASSERT_TRUE(age.has_value()) << metrics;
  EXPECT_GE(*age, 0);
  EXPECT_LT(*age, 60);
  EXPECT_THAT(control_->process().Output(),
              HasSubstr("service-account keys fetched from the issuer"));
}

// The API server rotates its signing key: the first token naming the new kid
// is refused but asks for a fetch, after which the same kind of token works.
// The bearer token is re-read for that fetch (projected tokens rotate).
TEST_F(ControlIssuerDiscoveryTest, RotatedKeyIsFetchedWhenATokenNamesItsKid) {
  ASSERT_NO_FATAL_FAILURE(StartControl({"--sa_jwks_refresh_interval=1h"}));
  ASSERT_EQ(BootstrapWith(keys_), grpc::StatusCode::OK);
  TestJwtIssuer rotated("rsa-2", "ec-2");
  issuer_.SetJwks(200, rotated.JwksJson());
  ASSERT_TRUE(WriteFile(token_file_, "reader-token-2"));

  EXPECT_EQ(BootstrapWith(rotated), grpc::StatusCode::UNAUTHENTICATED);  // token_unknown_key
  ASSERT_TRUE(WaitForRefreshes("ok", 2)) << control_->process().Output();
  EXPECT_EQ(BootstrapWith(rotated), grpc::StatusCode::OK) << control_->process().Output();
  EXPECT_EQ(BootstrapWith(keys_), grpc::StatusCode::UNAUTHENTICATED);  // the old key is gone
  EXPECT_EQ(issuer_.jwks_requests(), 2);
  EXPECT_EQ(issuer_.authorizations().back(), "Bearer reader-token-2");
  EXPECT_EQ(MetricValue(Metrics(), "palisade_control_jwks_unknown_key_refreshes_total",
                        {{"outcome", "requested"}}),
            1);
}

// Each broken answer is counted under its own result, logged with the
// reason, and the keys in use stay: a good token keeps bootstrapping.
TEST_F(ControlIssuerDiscoveryTest, BrokenAnswersKeepTheKeysInUseAndAreCounted) {
  ASSERT_NO_FATAL_FAILURE(StartControl({"--sa_jwks_refresh_interval=1s"}));
  ASSERT_EQ(BootstrapWith(keys_), grpc::StatusCode::OK);
  struct Case {
    std::string result;
    std::function<void()> break_issuer;
    std::string logged;
  };
  const std::vector<Case> cases = {
      {"malformed", [&] { issuer_.SetJwks(200, "{\"keys\": [tru"); }, "not valid JSON"},
      {"http_error", [&] { issuer_.SetJwks(500, "{}"); }, "HTTP status 500"},
      {"no_keys", [&] { issuer_.SetJwks(200, R"({"keys": []})"); }, "no signature key"},
      {"wrong_issuer",
       [&] {
         issuer_.SetDiscovery(200, nlohmann::json{{"issuer", "https://evil.example"},
                                                  {"jwks_uri", issuer_.issuer() + "/keys"}}
                                       .dump());
       },
       "evil.example"},
      {"tls_error", [&] { issuer_.ServeCertificate("localhost", /*trusted=*/false); },
       "does not verify"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.result);
    issuer_.ServeCertificate("localhost", /*trusted=*/true);
    issuer_.SetDiscovery(200, issuer_.DiscoveryJson());
    issuer_.SetJwks(200, keys_.JwksJson());
    c.break_issuer();
    ASSERT_TRUE(WaitForRefreshes(c.result, 1)) << control_->process().Output();
    EXPECT_THAT(control_->process().Output(), HasSubstr(c.logged));
    EXPECT_EQ(MetricValue(Metrics(), "palisade_control_jwks_keys"), 2);
    EXPECT_EQ(BootstrapWith(keys_), grpc::StatusCode::OK);
  }
  EXPECT_THAT(control_->process().Output(),
              HasSubstr("service-account keys not refreshed from the issuer; the keys in use "
                        "stay"));
}

// Tokens with made-up kids (a stranger, or a flood) reach the issuer once
// per --sa_jwks_unknown_key_interval, not once each.
TEST_F(ControlIssuerDiscoveryTest, UnknownKidRefreshesAreRateLimited) {
  ASSERT_NO_FATAL_FAILURE(
      StartControl({"--sa_jwks_refresh_interval=1h", "--sa_jwks_unknown_key_interval=1m"}));
  TestJwtIssuer stranger("rsa-x", "ec-x");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(BootstrapWith(stranger), grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(WaitForRefreshes("ok", 2)) << control_->process().Output();
  const std::string metrics = Metrics();
  EXPECT_EQ(MetricValue(metrics, "palisade_control_jwks_unknown_key_refreshes_total",
                        {{"outcome", "requested"}}),
            1);
  EXPECT_EQ(MetricValue(metrics, "palisade_control_jwks_unknown_key_refreshes_total",
                        {{"outcome", "rate_limited"}}),
            4);
  EXPECT_EQ(issuer_.jwks_requests(), 2);  // at start, and the one asked for
  EXPECT_EQ(BootstrapWith(keys_), grpc::StatusCode::OK);
}

// The issuer unreachable at start: the control plane serves anyway (join
// tokens and renewals need no issuer), refuses service-account tokens, and
// picks the keys up once the issuer answers.
TEST_F(ControlIssuerDiscoveryTest, StartsWithoutTheIssuerAndFetchesWhenItAnswers) {
  issuer_.SetJwks(503, "{}");
  ASSERT_NO_FATAL_FAILURE(
      StartControl({"--sa_jwks_refresh_interval=1h", "--sa_jwks_unknown_key_interval=100ms"}));
  EXPECT_EQ(Refreshes("http_error"), 1);
  EXPECT_EQ(MetricValue(Metrics(), "palisade_control_jwks_keys"), 0);
  EXPECT_EQ(BootstrapWith(keys_), grpc::StatusCode::UNAUTHENTICATED);  // asks for a fetch
  ASSERT_TRUE(WaitForRefreshes("http_error", 2));
  issuer_.SetJwks(200, keys_.JwksJson());
  ASSERT_TRUE(
      WaitFor([&] { return BootstrapWith(keys_) == grpc::StatusCode::OK; }, absl::Seconds(15)))
      << control_->process().Output();
}

}  // namespace
}  // namespace palisade::testing
