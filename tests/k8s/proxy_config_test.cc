// deploy/kubernetes/proxy.yaml, the configuration of every injected proxy,
// passes the real `palisade-proxy --validate` with the files it names laid
// out as the pod's projected volume lays them out, and agrees with the
// injector on every port.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <string>

#include "control/inject/inject_options.h"
#include "tests/util/process.h"
#include "tests/util/proxy_process.h"
#include "tests/util/subprocess.h"

namespace palisade::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kConfig[] = "deploy/kubernetes/proxy.yaml";

// /etc/palisade as the pod sees it: proxy.yaml, root-bundle.pem, token.
std::string ProjectedVolume(bool with_token) {
  const std::string dir = MakeTempDir("etc-palisade");
  EXPECT_TRUE(WriteFile(dir + "/proxy.yaml", ReadFileOrEmpty(kConfig)));
  EXPECT_TRUE(WriteFile(dir + "/root-bundle.pem",
                        ReadFileOrEmpty("tests/testdata/config/certs/control_plane_bundle.pem")));
  if (with_token) {
    // A projected token's shape (unsigned here): --validate reads the
    // identity to ask for from its sub claim; the control plane checks it.
    EXPECT_TRUE(WriteFile(
        dir + "/token",
        "eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3QifQ."
        "eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6c2hvcDpjYXJ0IiwiYXVkIjpbInBhbGlzYWRlIl19.c2ln\n"));
  }
  return dir;
}

int PortOf(const YAML::Node& address) {
  const std::string a = address.as<std::string>();
  return std::stoi(a.substr(a.rfind(':') + 1));
}

TEST(ProxyConfigTest, PassesTheProxysOwnValidation) {
  const std::string dir = ProjectedVolume(/*with_token=*/true);
  const CommandResult r =
      RunCommand({kProxyBinary, "--config=" + dir + "/proxy.yaml", "--validate"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("configuration is valid (2 inbound, 2 outbound listener(s))"));
  EXPECT_THAT(r.output, HasSubstr("spiffe://cluster.local/ns/shop/sa/cart"));
}

// The relative file names do resolve next to the config: without the token
// the same check fails, naming the field.
TEST(ProxyConfigTest, FailsValidationWithoutTheProjectedToken) {
  const std::string dir = ProjectedVolume(/*with_token=*/false);
  const CommandResult r =
      RunCommand({kProxyBinary, "--config=" + dir + "/proxy.yaml", "--validate"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("service_account_token_file"));
}

TEST(ProxyConfigTest, ListensOnThePortsTheInjectorCaptures) {
  const YAML::Node config = YAML::LoadFile(kConfig);
  const inject::InjectOptions defaults;
  for (const YAML::Node& in : config["inbound"]) {
    EXPECT_EQ(PortOf(in["address"]), defaults.inbound_port);
    EXPECT_TRUE(in["original_destination"].as<bool>());
  }
  for (const YAML::Node& out : config["outbound"]) {
    EXPECT_EQ(PortOf(out["address"]), defaults.outbound_port);
    EXPECT_TRUE(out["original_destination"].as<bool>());
  }
  EXPECT_EQ(PortOf(config["admin"]["public_address"]), defaults.health_port);
  EXPECT_EQ(PortOf(config["admin"]["address"]), 15000);
  EXPECT_FALSE(config["runtime"]["socket_mark"]) << "the proxy's container cannot set SO_MARK";
  EXPECT_EQ(config["identity"]["control_plane"]["service_account_token_file"].as<std::string>(),
            "token");
}

}  // namespace
}  // namespace palisade::testing
