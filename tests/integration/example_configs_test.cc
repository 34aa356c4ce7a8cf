// The example configurations in tests/testdata/config pass palisade-proxy's
// own --validate, credentials included, so the examples stay usable.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "absl/strings/str_replace.h"
#include "tests/util/process.h"
#include "tests/util/proxy_process.h"
#include "tests/util/subprocess.h"

namespace palisade::testing {
namespace {

using ::testing::HasSubstr;

TEST(ExampleConfigsTest, FileIdentityExampleValidatesWithItsCertificates) {
  const CommandResult r =
      RunCommand({kProxyBinary, "--config=tests/testdata/config/file_identity.yaml", "--validate"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("identity: spiffe://cluster.local/ns/shop/sa/cart"));
  EXPECT_THAT(r.output, HasSubstr("configuration is valid"));
}

TEST(ExampleConfigsTest, ControlPlaneExampleValidatesWithItsBootstrapBundle) {
  const CommandResult r =
      RunCommand({kProxyBinary, "--config=tests/testdata/config/control_plane.yaml", "--validate"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("1 bootstrap root(s)"));
}

TEST(ExampleConfigsTest, DeviceGatewayExampleValidatesWithItsTrustStoreAndCrl) {
  const CommandResult r = RunCommand(
      {kProxyBinary, "--config=tests/testdata/config/device_gateway.yaml", "--validate"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output,
              HasSubstr("gateway devices: 1 CA certificate(s), 1 CRL(s), identity from "
                        "dns_san, allows gw-7.partner.example.net, *.devices.example.com"));
  EXPECT_THAT(r.output, HasSubstr("configuration is valid"));
}

TEST(ExampleConfigsTest, ValidateWarnsThatAGatewayWithoutAllowRulesRefusesEveryone) {
  const std::string dir = MakeTempDir("gateway_validate");
  std::string yaml = ReadFileOrEmpty("tests/testdata/config/device_gateway.yaml");
  const size_t allow = yaml.find("      allow:");
  const size_t limits = yaml.find("    limits:");
  ASSERT_NE(allow, std::string::npos);
  yaml.erase(allow, limits - allow);
  const std::string base = std::string(getenv("TEST_SRCDIR")) + "/palisade/tests/testdata/config/";
  for (const char* file : {"certs/svid.pem", "certs/svid.key", "certs/bundle.pem",
                           "certs/device-ca.pem", "certs/devices.crl"}) {
    yaml = absl::StrReplaceAll(yaml, {{std::string(" ") + file, " " + base + file}});
  }
  ASSERT_TRUE(WriteFile(dir + "/gateway.yaml", yaml));
  const CommandResult r =
      RunCommand({kProxyBinary, "--config=" + dir + "/gateway.yaml", "--validate"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("warning: inbound[0].gateway.allow has no rule: listener devices "
                                  "refuses every client (deny by default)"));
}

TEST(ExampleConfigsTest, VersionFlagPrintsTheVersion) {
  const CommandResult r = RunCommand({kProxyBinary, "--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("palisade-proxy "));
}

}  // namespace
}  // namespace palisade::testing
