// A gateway's trust store and CRL files replaced while connections run
// (issue 17): new handshakes use the new ones at once, live connections of a
// client now revoked (or no longer anchored) close, and a corrupt file keeps
// the running store (logged and counted).
#include <gmock/gmock.h>
#include <signal.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "tests/integration/gateway_fixture.h"
#include "tests/util/process.h"
#include "tests/util/prometheus_text.h"

namespace palisade::testing {
namespace {

class GatewayReloadTest : public GatewayTest {
 protected:
  void SetUp() override {
    signal(SIGPIPE, SIG_IGN);  // writes to a connection the gateway closed
    GatewayTest::SetUp();
    WriteDevice("sensor-2", "sensor-2.devices.example.com");
    // A partner CA, and the one it rolls over to, for the listener without CRLs.
    WriteFileOrDie(trust_dir_ + "/partner-ca.pem", partner_old_.BundlePem());
    WriteDevice("partner-old", "gw.devices.example.com", &partner_old_);
    WriteDevice("partner-new", "gw2.devices.example.com", &partner_new_);
    StartGateway(Config());
  }

  ProxyYaml Config(const std::string& partner_trust = "partner-ca.pem") {
    ProxyYaml config = GatewayConfig();
    AddGateway(config, "devices", echo_->address());
    ProxyYaml::Inbound& partners = AddGateway(config, "partners", echo_->address());
    partners.gateway->trust_store_files = {absl::StrCat(trust_dir_, "/", partner_trust)};
    partners.gateway->crl_files.clear();
    return config;
  }

  bool Connects(const std::string& listener, const std::string& device) {
    return DeviceConnection::Open(Port(listener), dir(), device) != nullptr;
  }
  double Reloads(const std::string& listener, const std::string& result) {
    return MetricSum(gateway_->Metrics(), "palisade_gateway_trust_reloads_total",
                     {{"listener", listener}, {"result", result}});
  }

  TestPki partner_old_{{.trust_domain = "partner-old", .with_intermediate = false}};
  TestPki partner_new_{{.trust_domain = "partner-new", .with_intermediate = false}};
};

TEST_F(GatewayReloadTest, ANewCrlRefusesNewHandshakesAndACorruptOneKeepsIt) {
  std::unique_ptr<DeviceConnection> live =
      DeviceConnection::Open(Port("devices"), dir(), "sensor-1");
  ASSERT_NE(live, nullptr) << mesh_.Logs();

  Replace("devices.crl", CrlPem(devices_.root(), {sensor_.get()}, absl::Now()));
  EXPECT_TRUE(WaitFor([&] { return !Connects("devices", "sensor-1"); }, absl::Seconds(10)))
      << gateway_->Metrics();
  EXPECT_GE(Failures("devices", "certificate_revoked"), 1) << gateway_->Metrics();
  EXPECT_TRUE(Connects("devices", "sensor-2"));
  // Admitted before the revocation, it is closed too (gracefully).
  EXPECT_TRUE(WaitFor([&] { return !live->Echo("still-here\n"); }, absl::Seconds(5)));
  EXPECT_GE(Reloads("devices", "ok"), 1);
  std::unique_ptr<DeviceConnection> second =
      DeviceConnection::Open(Port("devices"), dir(), "sensor-2");
  ASSERT_NE(second, nullptr);

  Replace("devices.crl", "-----BEGIN X509 CRL-----\nnot base64 at all\n-----END X509 CRL-----\n");
  EXPECT_TRUE(WaitFor([&] { return Reloads("devices", "refused") >= 1; }, absl::Seconds(10)))
      << gateway_->Metrics();
  EXPECT_TRUE(gateway_->WaitForLog("gateway trust files refused; the running trust store stays"));
  const double revoked_before = Failures("devices", "certificate_revoked");
  EXPECT_FALSE(Connects("devices", "sensor-1"));  // the running CRL still revokes it
  EXPECT_TRUE(WaitFor([&] { return Failures("devices", "certificate_revoked") > revoked_before; },
                      absl::Seconds(5)));
  EXPECT_TRUE(Connects("devices", "sensor-2"));
  EXPECT_TRUE(second->Echo("a-corrupt-file-changes-nothing\n"));
}

TEST_F(GatewayReloadTest, ANewTrustStoreTakesOverAndACorruptOneKeepsIt) {
  ASSERT_TRUE(Connects("partners", "partner-old")) << mesh_.Logs();
  std::unique_ptr<DeviceConnection> live =
      DeviceConnection::Open(Port("partners"), dir(), "partner-old");
  ASSERT_NE(live, nullptr);
  EXPECT_FALSE(Connects("partners", "partner-new"));

  Replace("partner-ca.pem", partner_new_.BundlePem());
  EXPECT_TRUE(WaitFor([&] { return Connects("partners", "partner-new"); }, absl::Seconds(10)))
      << gateway_->Metrics();
  EXPECT_FALSE(Connects("partners", "partner-old"));
  EXPECT_TRUE(
      WaitFor([&] { return Failures("partners", "untrusted_chain") >= 2; }, absl::Seconds(5)));
  // Its CA left the trust store: closed (reauthentication.on_root_removed).
  EXPECT_TRUE(WaitFor([&] { return !live->Echo("rolled-over\n"); }, absl::Seconds(5)));

  Replace("partner-ca.pem", "-----BEGIN CERTIFICATE-----\ntruncated");
  EXPECT_TRUE(WaitFor([&] { return Reloads("partners", "refused") >= 1; }, absl::Seconds(10)))
      << gateway_->Metrics();
  EXPECT_TRUE(Connects("partners", "partner-new"));
  EXPECT_FALSE(Connects("partners", "partner-old"));
  EXPECT_FALSE(Connects("partners", "sensor-2"));  // the device CA never reached it
}

// A configuration reload that points a gateway at another trust file: the
// new file is watched from then on (its replacement takes effect), and the
// file the listener no longer names is not (its replacement changes nothing).
TEST_F(GatewayReloadTest, AReloadedListenerWatchesTheTrustFilesItNowNames) {
  WriteFileOrDie(trust_dir_ + "/partner-ca-2.pem", partner_old_.BundlePem());
  WriteFileOrDie(gateway_->config_path(), Config("partner-ca-2.pem").ToString());
  gateway_->process().Signal(SIGHUP);
  ASSERT_TRUE(gateway_->WaitForLog("configuration reloaded")) << gateway_->process().Output();
  ASSERT_TRUE(Connects("partners", "partner-old"));

  // The file it no longer names: replacing it (here with the device CA)
  // must not reach the listener.
  Replace("partner-ca.pem", devices_.BundlePem());
  // The file it names now: replacing it must.
  Replace("partner-ca-2.pem", partner_new_.BundlePem());
  EXPECT_TRUE(WaitFor([&] { return Connects("partners", "partner-new"); }, absl::Seconds(10)))
      << gateway_->Metrics();
  EXPECT_FALSE(Connects("partners", "partner-old"));
  EXPECT_FALSE(Connects("partners", "sensor-2"));  // the device CA never reached it
}

}  // namespace
}  // namespace palisade::testing
