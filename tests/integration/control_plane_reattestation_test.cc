// Identity survives control-plane outages of any length: real palisade-control
// and palisade-proxy processes on loopback. A proxy bootstrapped with a
// single-use join token and 6 s SVIDs loses its SVID while the control plane
// is killed for twice that long (and, in one case, restarts itself
// meanwhile), and meanwhile shows no certificate to anyone; when the control
// plane comes back on the same state and ports, the proxy holds a valid SVID
// again within 30 s by its re-attestation token, with no operator action. A
// revoked re-attestation token does not heal it, and its log says why. A
// service-account proxy heals the same way.
#include <sys/stat.h>

#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/util/mesh_fixture.h"
#include "tests/util/process.h"
#include "tests/util/status_matchers.h"
#include "tests/util/test_jwt.h"

namespace palisade::testing {
namespace {

constexpr char kBackend[] = "spiffe://example.org/ns/shop/sa/backend";
// What the issue asks: a valid SVID again within 30 s of the control plane's return.
constexpr absl::Duration kHealWithin = absl::Seconds(30);
// Short SVIDs so an outage outlives them in seconds.
constexpr absl::Duration kSvidTtl = absl::Seconds(6);

class ControlPlaneReattestationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(echo_, mesh_.StartBackend("echo"));
    ASSERT_TRUE(WriteFile(JwksFile(), jwt_.JwksJson()));
    ASSERT_OK(mesh_.StartControl(ControlFlags()));
    identity_address_ = mesh_.control().identity_address();
    admin_address_ = mesh_.control().admin_address();
  }
  void TearDown() override {
    mesh_.StopProxies();
    if (mesh_.has_control()) {
      EXPECT_EQ(mesh_.control().process().Stop(), 0) << mesh_.control().process().Output();
    }
  }

  std::vector<std::string> ControlFlags() const {
    std::vector<std::string> flags = {"--svid_ttl=" + absl::FormatDuration(kSvidTtl),
                                      "--clock_skew=1s", "--jwks_file=" + JwksFile(),
                                      std::string("--sa_issuer=") + kSaIssuer,
                                      "--sa_audience=palisade"};
    if (!identity_address_.empty()) {
      flags.push_back("--listen=" + identity_address_);
      flags.push_back("--admin=" + admin_address_);
    }
    return flags;
  }

  // The proxy, bootstrapped with a fresh single-use join token; returns once
  // it is ready and has kept its re-attestation token.
  void StartProxy() {
    ASSERT_OK_AND_ASSIGN(config_, mesh_.ControlPlaneConfig("backend", kBackend));
    config_.AddInbound("in", echo_->address());
    ASSERT_OK_AND_ASSIGN(proxy_, mesh_.StartReadyProxy("backend", config_));
    ASSERT_TRUE(WaitFor([&] { return !ReadFileOrEmpty(TokenFile()).empty(); }, absl::Seconds(10)))
        << mesh_.Logs();
    struct stat info;
    ASSERT_EQ(::stat(TokenFile().c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600u);
    EXPECT_TRUE(OffersACertificate()) << "positive control";
  }
  void RestartProxy() { ASSERT_OK_AND_ASSIGN(proxy_, mesh_.StartProxy("backend", config_)); }

  std::string TokenFile() const { return mesh_.dir() + "/backend.token.reattest"; }
  std::string JwksFile() const { return mesh_.dir() + "/jwks.json"; }

  // kill -9: no clean shutdown, as in a crash or a lost node.
  void KillControl() { EXPECT_TRUE(mesh_.control().process().Kill().has_value()); }

  // Whether the inbound listener shows a certificate to a TLS client
  // (openssl s_client, with none of its own): it must not while it has no
  // valid SVID.
  bool OffersACertificate() {
    const absl::StatusOr<uint16_t> port = proxy_->ListenerPort("in");
    if (!port.ok()) return false;
    const CommandResult r = RunCommand(
        {"openssl", "s_client", "-connect", absl::StrCat("127.0.0.1:", *port), "-showcerts"},
        absl::Seconds(5), "");
    return absl::StrContains(r.output, "-----BEGIN CERTIFICATE-----");
  }

  // kill -9 of the control plane, away for twice the SVID's life (`meanwhile`
  // runs first, e.g. a proxy restart). The proxy fails closed: once its SVID
  // has expired it shows no certificate to anyone.
  void OutageOfTwiceTheTtl(const std::function<void()>& meanwhile = nullptr) {
    const absl::Time killed = absl::Now();
    KillControl();
    if (meanwhile) meanwhile();
    WaitUntilTheSvidHasExpired();
    EXPECT_FALSE(OffersACertificate()) << "a handshake with an expired SVID";
    // The outage's length is what is under test: nothing to wait for.
    absl::SleepFor(killed + 2 * kSvidTtl - absl::Now());
    EXPECT_FALSE(OffersACertificate()) << "a handshake with an expired SVID";
  }

  // Restarts the control plane and waits until the proxy is ready again,
  // within kHealWithin; reports how long that took.
  void ExpectHealed() {
    RestartControl();
    const absl::Time returned = absl::Now();
    ASSERT_TRUE(proxy_->WaitReady(kHealWithin)) << Ready() << mesh_.Logs();
    const absl::Duration healed = absl::Now() - returned;
    EXPECT_LT(healed, kHealWithin);
    EXPECT_TRUE(OffersACertificate());
    std::cout << "healed " << absl::FormatDuration(healed) << " after the control plane's return\n";
    RecordProperty("healed_ms", static_cast<int>(absl::ToInt64Milliseconds(healed)));
  }

  // On the same state directory and ports; returns when it is ready.
  void RestartControl() { ASSERT_OK(mesh_.StartControl(ControlFlags())); }

  std::string Ready() { return HttpGet(proxy_->admin_url() + "/ready").body; }

  void WaitUntilTheSvidHasExpired() {
    ASSERT_TRUE(WaitFor(
        [&] {
          const std::string ready = Ready();
          return absl::StrContains(ready, "the SVID has expired") ||
                 absl::StrContains(ready, "no SVID loaded yet");
        },
        absl::Seconds(20), absl::Milliseconds(100)))
        << Ready() << mesh_.Logs();
  }

  std::string Audit() { return ReadFileOrEmpty(mesh_.control().state_dir() + "/audit.log"); }

  // The proxy is ready again within kHealWithin of the control plane's
  // return, with a valid SVID obtained by re-attestation.
  void ExpectHealsByReattestation() {
    ExpectHealed();
    const nlohmann::json certs = proxy_->Certs();
    EXPECT_EQ(certs["svid"]["spiffe_id"], kBackend) << certs.dump(2);
    EXPECT_TRUE(absl::StrContains(Audit(), "\"reason\":\"bootstrap_reattestation_token\""))
        << Audit();
    EXPECT_TRUE(proxy_->WaitForLog("authenticated_with=reattestation_token"))
        << proxy_->process().Output();
  }

  static constexpr char kSaIssuer[] = "https://kubernetes.default.svc";
  TestJwtIssuer jwt_;
  MeshFixture mesh_{{.trust_domain = "example.org", .dir_prefix = "reattestation"}};
  EchoBackend* echo_ = nullptr;
  std::string identity_address_;
  std::string admin_address_;
  ProxyYaml config_;
  ProxyProcess* proxy_ = nullptr;
};

TEST_F(ControlPlaneReattestationTest, AnOutageOfTwiceTheSvidsLifeHealsByItselfOnReturn) {
  StartProxy();
  OutageOfTwiceTheTtl();
  ExpectHealsByReattestation();
  EXPECT_TRUE(absl::StrContains(Audit(), "re-attestation token rt-")) << Audit();
  // Healed for good: it renews over mTLS again.
  const std::string serial = proxy_->Certs()["svid"]["serial"];
  EXPECT_TRUE(
      WaitFor([&] { return proxy_->Certs()["svid"]["serial"] != serial; }, absl::Seconds(20)))
      << mesh_.Logs();
}

TEST_F(ControlPlaneReattestationTest, AProxyRestartedDuringTheOutageHealsByItselfOnReturn) {
  StartProxy();
  OutageOfTwiceTheTtl([&] { RestartProxy(); });  // its SVID and key were in memory only
  EXPECT_TRUE(absl::StrContains(Ready(), "no SVID loaded yet")) << Ready();
  ExpectHealsByReattestation();
}

TEST_F(ControlPlaneReattestationTest, ARevokedReattestationTokenDoesNotHealAndTheProxySaysWhy) {
  StartProxy();
  const nlohmann::json tokens =
      nlohmann::json::parse(mesh_.control().AdminGet("/api/v1/tokens").body, nullptr, false);
  std::string rt_id;
  for (const auto& t : tokens) {
    if (t.value("kind", "") == "reattestation" && t.value("spiffe_id", "") == kBackend) {
      rt_id = t.value("id", "");
    }
  }
  ASSERT_FALSE(rt_id.empty()) << tokens.dump(2);
  const CommandResult revoked = mesh_.control().Cli({"token", "revoke", "--id=" + rt_id});
  ASSERT_EQ(revoked.exit_code, 0) << revoked.output;

  KillControl();
  WaitUntilTheSvidHasExpired();
  RestartControl();
  // Refused twice: its re-attestation token is revoked, its join token spent.
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string audit = Audit();
        return absl::StrContains(audit, "reattestation_token_revoked") &&
               absl::StrContains(audit, "join_token_used");
      },
      kHealWithin))
      << Audit();
  EXPECT_TRUE(proxy_->WaitForLog("refused the re-attestation token")) << proxy_->process().Output();
  EXPECT_TRUE(proxy_->WaitForLog(rt_id + " was revoked")) << proxy_->process().Output();
  EXPECT_TRUE(absl::StrContains(Ready(), "the SVID has expired")) << Ready();
  EXPECT_FALSE(absl::StrContains(Audit(), "bootstrap_reattestation_token"));
}

// Service-account tokens are reusable (the kubelet keeps the file fresh):
// such a proxy heals the same way without any re-attestation token.
TEST_F(ControlPlaneReattestationTest, AServiceAccountProxyHealsAfterAnOutageAndARestart) {
  const std::string sa_file = mesh_.dir() + "/backend.sa";
  ASSERT_TRUE(WriteFile(
      sa_file, jwt_.Sign("ES256", TestJwtIssuer::Claims(kSaIssuer, "palisade", "shop", "backend",
                                                        absl::Now(), absl::Hours(1)))));
  ASSERT_OK_AND_ASSIGN(config_, mesh_.ControlPlaneConfig("backend", kBackend));
  config_.identity.control_plane->join_token_file.clear();
  config_.identity.control_plane->service_account_token_file = sa_file;
  config_.AddInbound("in", echo_->address());
  ASSERT_OK_AND_ASSIGN(proxy_, mesh_.StartReadyProxy("backend", config_));

  EXPECT_TRUE(OffersACertificate()) << "positive control";
  OutageOfTwiceTheTtl();
  ExpectHealed();

  OutageOfTwiceTheTtl([&] { RestartProxy(); });
  ExpectHealed();
  EXPECT_EQ(proxy_->Certs()["svid"]["spiffe_id"], kBackend);
  EXPECT_TRUE(absl::StrContains(Audit(), "\"reason\":\"bootstrap_service_account\"")) << Audit();
  EXPECT_FALSE(absl::StrContains(Audit(), "reattestation")) << Audit();
  EXPECT_TRUE(ReadFileOrEmpty(TokenFile()).empty());
}

}  // namespace
}  // namespace palisade::testing
