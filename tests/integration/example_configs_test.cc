// The example configurations in tests/testdata/config pass palisade-proxy's
// own --validate, credentials included, so the examples stay usable.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

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
  EXPECT_THAT(r.output, HasSubstr("gateway devices: 1 CA certificate(s), 1 CRL(s), identity from "
                                  "dns_san, allows gw-7.partner.example.net, *.devices.example.com"));
  EXPECT_THAT(r.output, HasSubstr("configuration is valid"));
}

TEST(ExampleConfigsTest, VersionFlagPrintsTheVersion) {
  const CommandResult r = RunCommand({kProxyBinary, "--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("palisade-proxy "));
}

}  // namespace
}  // namespace palisade::testing
