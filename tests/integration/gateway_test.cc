// A gateway listener for clients outside the mesh (issue 17): a device with a
// DNS-SAN certificate from its own CA reaches the app through real clients
// (openssl s_client, curl); every other client is refused with its own
// reason before any byte reaches the app.
#include <gmock/gmock.h>
#include <openssl/sha.h>

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "identity/certificate.h"
#include "tests/integration/gateway_fixture.h"
#include "tests/util/process.h"
#include "tests/util/prometheus_text.h"

namespace palisade::testing {
namespace {

using ::testing::HasSubstr;

std::string Sha256Hex(const std::string& bytes) {
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

class GatewayForwardingTest : public GatewayTest {
 protected:
  void SetUp() override {
    GatewayTest::SetUp();
    ProxyYaml config = GatewayConfig();
    AddGateway(config, "devices", echo_->address());
    AddGateway(config, "devices-http", http_->address());
    AddGateway(config, "devices13", echo_->address()).min_tls_version = "1.3";
    config.AddInbound("mesh-in", echo_->address());  // an ordinary mesh listener beside them
    StartGateway(config);
  }

  void ExpectEchoGotNothing() {
    EXPECT_TRUE(echo_->Records().empty()) << "the app saw: " << echo_->Records().front();
  }
};

TEST_F(GatewayForwardingTest, SClientWithADnsSanDeviceCertificateReachesTheApp) {
  // Lines of random hex, about 48 KiB: what comes back must be the same bytes.
  std::string payload;
  for (int i = 0; i < 768; ++i) {
    payload +=
        absl::BytesToHexString(absl::StrCat(std::to_string(i * 7919), "0123456789abcdef",
                                            std::string(14, static_cast<char>('a' + i % 26))));
    payload += "\n";
  }
  const CommandResult r = SClient(Port("devices"), "sensor-1", payload);
  // s_client's own words (on stderr) come first; the echo follows.
  const size_t echoed = r.output.find(payload.substr(0, 64));
  ASSERT_NE(echoed, std::string::npos) << r.output.substr(0, 400);
  EXPECT_EQ(Sha256Hex(r.output.substr(echoed, payload.size())), Sha256Hex(payload));
  EXPECT_GE(MetricSum(gateway_->Metrics(), "palisade_handshakes_total",
                      {{"listener", "devices"},
                       {"result", "success"},
                       {"peer_identity", "sensor-1.devices.example.com"}}),
            1)
      << gateway_->Metrics();
  EXPECT_TRUE(gateway_->WaitForLog("sensor-1.devices.example.com"));
}

TEST_F(GatewayForwardingTest, CurlWithADnsSanDeviceCertificateGetsTheHttpAppsAnswer) {
  const CommandResult r =
      RunCommand({"curl", "-sS", "--max-time", "5", "-k", "--pinnedpubkey",
                  GatewayKeyPin(dir() + "/gateway.pem"), "--cert", dir() + "/sensor-1.pem", "--key",
                  dir() + "/sensor-1.key",
                  absl::StrCat("https://127.0.0.1:", Port("devices-http"), "/readings/42")},
                 absl::Seconds(10));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("(GET /readings/42 HTTP/1.1)"));
}

TEST_F(GatewayForwardingTest, RefusesARevokedCertificateAsRevoked) {
  const bssl::UniquePtr<X509> revoked = WriteDevice("revoked", "old.devices.example.com");
  Replace("devices.crl", CrlPem(devices_.root(), {revoked.get()}, absl::Now()));
  // Only once the gateway has loaded the new CRL: before, the certificate is
  // still good and would rightly reach the app.
  ASSERT_TRUE(WaitFor(
      [&] {
        return MetricSum(gateway_->Metrics(), "palisade_gateway_trust_reloads_total",
                         {{"listener", "devices"}, {"result", "ok"}}) >= 1;
      },
      absl::Seconds(10)))
      << gateway_->Metrics();
  SClient(Port("devices"), "revoked", "must-not-arrive\n");
  EXPECT_GE(Failures("devices", "certificate_revoked"), 1) << gateway_->Metrics();
  ExpectEchoGotNothing();
}

TEST_F(GatewayForwardingTest, RefusesAMeshSvidWhoseCaIsNotInTheTrustStore) {
  const CommandResult r = SClient(Port("devices"), "meshpeer", "must-not-arrive\n");
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("must-not-arrive")));
  EXPECT_TRUE(
      WaitFor([&] { return Failures("devices", "untrusted_chain") >= 1; }, absl::Seconds(5)))
      << gateway_->Metrics();
  ExpectEchoGotNothing();
}

TEST_F(GatewayForwardingTest, RefusesADeviceOutsideTheAllowList) {
  const CommandResult r = SClient(Port("devices"), "outsider", "must-not-arrive\n");
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("must-not-arrive")));
  EXPECT_TRUE(WaitFor([&] { return Failures("devices", "not_authorized") >= 1; }, absl::Seconds(5)))
      << gateway_->Metrics();
  EXPECT_TRUE(gateway_->WaitForLog("laptop.corp.example.com"));
  ExpectEchoGotNothing();
}

TEST_F(GatewayForwardingTest, RefusesAClientWithoutACertificate) {
  const CommandResult r = SClient(Port("devices"), "", "must-not-arrive\n");
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("must-not-arrive")));
  EXPECT_TRUE(WaitFor([&] { return Failures("devices", "no_certificate") >= 1; }, absl::Seconds(5)))
      << gateway_->Metrics();
  ExpectEchoGotNothing();
}

// The finding: before gateways, a device certificate met only the
// SVID rules. A mesh listener still applies them, beside a gateway.
TEST_F(GatewayForwardingTest, AMeshListenerStillRefusesADeviceCertificateAsBadSpiffeId) {
  const CommandResult r = SClient(Port("mesh-in"), "sensor-1", "must-not-arrive\n");
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("must-not-arrive")));
  EXPECT_TRUE(WaitFor([&] { return Failures("mesh-in", "bad_spiffe_id") >= 1; }, absl::Seconds(5)))
      << gateway_->Metrics();
  ExpectEchoGotNothing();
}

TEST_F(GatewayForwardingTest, AListenerAtTls13RefusesATls12ClientThatAnotherAccepts) {
  const CommandResult old = SClient(Port("devices13"), "sensor-1", "tls12-line\n", {"-tls1_2"});
  EXPECT_THAT(old.output, ::testing::Not(HasSubstr("tls12-line")));
  EXPECT_TRUE(
      WaitFor([&] { return Failures("devices13", "protocol_version") >= 1; }, absl::Seconds(5)))
      << gateway_->Metrics();
  ExpectEchoGotNothing();
  // Older devices keep TLS 1.2 on the listener that allows it (the global default).
  const CommandResult ok = SClient(Port("devices"), "sensor-1", "tls12-line\n", {"-tls1_2"});
  EXPECT_THAT(ok.output, HasSubstr("tls12-line"));
}

}  // namespace
}  // namespace palisade::testing
