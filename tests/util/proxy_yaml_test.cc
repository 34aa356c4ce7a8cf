// What ProxyYaml writes is what the proxy's own loader reads: every field
// lands where config.proto says, unset fields take the loader's defaults.
#include "tests/util/proxy_yaml.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "proxy/config/config_loader.h"
#include "tests/util/status_matchers.h"

namespace palisade::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The example credentials in tests/testdata/config/certs.
constexpr char kCerts[] = "tests/testdata/config/certs";

absl::StatusOr<config::v1::ProxyConfig> Load(const ProxyYaml& yaml) {
  config::LoadOptions options;
  options.base_directory = kCerts;
  options.hardware_threads = 4;
  return config::LoadProxyConfigYaml(yaml.ToString(), "test.yaml", options);
}

ProxyYaml FileIdentity() {
  ProxyYaml yaml;
  yaml.identity.spiffe_id = "spiffe://cluster.local/ns/shop/sa/cart";
  yaml.identity.files = ProxyYaml::Files{"svid.pem", "svid.key", {{"cluster.local", "bundle.pem"}}};
  return yaml;
}

TEST(ProxyYamlTest, FileIdentityAndListenersLoadAsWritten) {
  ProxyYaml yaml = FileIdentity();
  ProxyYaml::Inbound& in = yaml.AddInbound("in", "127.0.0.1:8080");
  in.authorization.spiffe_ids = {"spiffe://cluster.local/ns/shop/sa/frontend"};
  in.authorization.trust_domains = {"cluster.local"};
  in.authorization.path_prefixes = {"spiffe://cluster.local/ns/shop/"};
  in.limits.max_connections = 2;
  in.limits.buffer_high_water_bytes = 4096;
  in.timeouts.handshake = "1s";
  in.timeouts.connect = "2s";
  in.timeouts.idle = "3m";
  ProxyYaml::Outbound& out = yaml.AddOutbound("out", "localhost:15006");
  out.address = "127.0.0.1:15001";
  out.expected_peer.spiffe_id = "spiffe://cluster.local/ns/shop/sa/backend";
  ProxyYaml::Outbound& capture = yaml.AddOutbound("capture", "");
  capture.original_destination = true;
  capture.expected_peer.trust_domain = "cluster.local";
  capture.destinations.push_back({"10.0.0.0/24", {"", "", "spiffe://cluster.local/ns/db/"}});

  absl::StatusOr<config::v1::ProxyConfig> config = Load(yaml);
  ASSERT_OK(config.status()) << yaml.ToString();
  EXPECT_EQ(config->identity().spiffe_id(), "spiffe://cluster.local/ns/shop/sa/cart");
  EXPECT_EQ(config->identity().files().certificate_chain_file(), std::string(kCerts) + "/svid.pem");
  EXPECT_EQ(config->identity().files().trust_bundles(0).trust_domain(), "cluster.local");
  ASSERT_EQ(config->inbound_size(), 1);
  const config::v1::InboundListener& loaded_in = config->inbound(0);
  EXPECT_EQ(loaded_in.address(), "127.0.0.1:0");
  EXPECT_EQ(loaded_in.forward_to(), "127.0.0.1:8080");
  EXPECT_EQ(loaded_in.authorization().spiffe_ids(0), "spiffe://cluster.local/ns/shop/sa/frontend");
  EXPECT_EQ(loaded_in.authorization().trust_domains(0), "cluster.local");
  EXPECT_EQ(loaded_in.authorization().path_prefixes(0), "spiffe://cluster.local/ns/shop/");
  EXPECT_EQ(loaded_in.limits().max_connections(), 2u);
  EXPECT_EQ(loaded_in.limits().buffer_high_water_bytes(), 4096u);
  EXPECT_EQ(loaded_in.timeouts().handshake().seconds(), 1);
  EXPECT_EQ(loaded_in.timeouts().connect().seconds(), 2);
  EXPECT_EQ(loaded_in.timeouts().idle().seconds(), 180);
  ASSERT_EQ(config->outbound_size(), 2);
  EXPECT_EQ(config->outbound(0).upstream(), "localhost:15006");
  EXPECT_EQ(config->outbound(0).address(), "127.0.0.1:15001");
  EXPECT_EQ(config->outbound(0).expected_peer().spiffe_id(),
            "spiffe://cluster.local/ns/shop/sa/backend");
  EXPECT_TRUE(config->outbound(1).original_destination());
  EXPECT_EQ(config->outbound(1).expected_peer().trust_domain(), "cluster.local");
  EXPECT_EQ(config->outbound(1).destinations(0).address(), "10.0.0.0/24");
  EXPECT_EQ(config->outbound(1).destinations(0).expected_peer().path_prefix(),
            "spiffe://cluster.local/ns/db/");
}

TEST(ProxyYamlTest, ControlPlaneIdentityLoadsAsWritten) {
  ProxyYaml yaml;
  yaml.identity.spiffe_id = "spiffe://cluster.local/ns/shop/sa/cart";
  ProxyYaml::ControlPlane& cp = yaml.identity.control_plane.emplace();
  cp.address = "127.0.0.1:8443";
  cp.server_spiffe_id = "spiffe://cluster.local/palisade/control";
  cp.bootstrap_bundle_file = "control_plane_bundle.pem";
  cp.join_token_file = "join_token";
  cp.instance_name = "cart-1";
  cp.renew_fraction = 0.25;
  cp.initial_backoff = "200ms";
  cp.max_backoff = "1s";
  yaml.AddInbound("in", "127.0.0.1:8080");

  absl::StatusOr<config::v1::ProxyConfig> config = Load(yaml);
  ASSERT_OK(config.status()) << yaml.ToString();
  const config::v1::ControlPlaneIdentitySource& loaded = config->identity().control_plane();
  EXPECT_EQ(loaded.address(), "127.0.0.1:8443");
  EXPECT_EQ(loaded.server_spiffe_id(), "spiffe://cluster.local/palisade/control");
  EXPECT_EQ(loaded.join_token_file(), std::string(kCerts) + "/join_token");
  EXPECT_EQ(loaded.instance_name(), "cart-1");
  EXPECT_DOUBLE_EQ(loaded.renew_fraction(), 0.25);
  EXPECT_EQ(loaded.initial_backoff().nanos(), 200'000'000);
  EXPECT_EQ(loaded.max_backoff().seconds(), 1);
}

TEST(ProxyYamlTest, EverySettingsSectionLoadsAsWritten) {
  ProxyYaml yaml = FileIdentity();
  yaml.AddInbound("in", "127.0.0.1:8080");
  yaml.admin.address = "127.0.0.1:0";
  yaml.admin.public_address = "127.0.0.2:0";
  yaml.runtime.workers = 3;
  yaml.runtime.drain_timeout = "5s";
  yaml.runtime.startup_hold = "20s";
  yaml.runtime.socket_mark = 1337;
  yaml.runtime.dns_cache = "1s";
  yaml.tls.min_version = "1.3";
  yaml.tls.session_resumption = false;
  yaml.tls.ticket_key_rotation = "10m";
  yaml.logging.level = "debug";
  yaml.logging.format = "json";
  yaml.logging.access_log = false;
  yaml.metrics.max_peer_identities = 10;
  yaml.metrics.enabled = false;
  yaml.reauthentication.on_peer_expiry = false;
  yaml.reauthentication.on_root_removed = true;
  yaml.reauthentication.on_policy_change = false;
  yaml.reauthentication.grace_period = "2s";

  absl::StatusOr<config::v1::ProxyConfig> config = Load(yaml);
  ASSERT_OK(config.status()) << yaml.ToString();
  EXPECT_EQ(config->admin().address(), "127.0.0.1:0");
  EXPECT_EQ(config->admin().public_address(), "127.0.0.2:0");
  EXPECT_EQ(config->runtime().workers(), 3u);
  EXPECT_EQ(config->runtime().drain_timeout().seconds(), 5);
  EXPECT_EQ(config->runtime().startup_hold().seconds(), 20);
  EXPECT_EQ(config->runtime().socket_mark(), 1337u);
  EXPECT_EQ(config->runtime().dns_cache().seconds(), 1);
  EXPECT_EQ(config->tls().min_version(), "1.3");
  EXPECT_FALSE(config->tls().session_resumption());
  EXPECT_EQ(config->tls().ticket_key_rotation().seconds(), 600);
  EXPECT_EQ(config->logging().level(), "debug");
  EXPECT_EQ(config->logging().format(), "json");
  EXPECT_FALSE(config->logging().access_log());
  EXPECT_EQ(config->metrics().max_peer_identities(), 10u);
  EXPECT_FALSE(config->metrics().enabled());
  EXPECT_FALSE(config->reauthentication().on_peer_expiry());
  EXPECT_TRUE(config->reauthentication().on_root_removed());
  EXPECT_FALSE(config->reauthentication().on_policy_change());
  EXPECT_EQ(config->reauthentication().grace_period().seconds(), 2);
}

TEST(ProxyYamlTest, UnsetFieldsAreLeftOutSoTheDefaultsApply) {
  ProxyYaml yaml = FileIdentity();
  yaml.AddInbound("in", "127.0.0.1:8080");
  const std::string text = yaml.ToString();
  for (const char* section : {"admin:", "runtime:", "tls:", "logging:", "metrics:",
                              "reauthentication:", "outbound:", "authorization:", "limits:"}) {
    EXPECT_THAT(text, Not(HasSubstr(section)));
  }
  absl::StatusOr<config::v1::ProxyConfig> config = Load(yaml);
  ASSERT_OK(config.status()) << text;
  EXPECT_EQ(config->admin().address(), "127.0.0.1:15000");
  EXPECT_EQ(config->runtime().workers(), 4u);  // one per (injected) core
  EXPECT_EQ(config->metrics().max_peer_identities(), 1000u);
}

TEST(ProxyYamlTest, QuotesValuesYamlWouldOtherwiseMisread) {
  ProxyYaml yaml = FileIdentity();
  ProxyYaml::Inbound& in = yaml.AddInbound("in6", "[::1]:0");
  in.address = "[::]:15006";
  in.original_destination = true;
  yaml.tls.min_version = "1.2";
  absl::StatusOr<config::v1::ProxyConfig> config = Load(yaml);
  ASSERT_OK(config.status()) << yaml.ToString();
  EXPECT_EQ(config->inbound(0).address(), "[::]:15006");
  EXPECT_EQ(config->inbound(0).forward_to(), "[::1]:0");
  EXPECT_EQ(config->tls().min_version(), "1.2");
}

TEST(ProxyYamlTest, ExtraYamlIsAppendedAsIs) {
  ProxyYaml yaml = FileIdentity();
  yaml.AddInbound("in", "127.0.0.1:8080");
  yaml.extra = "metrics:\n  max_peer_identities: 7\n";
  absl::StatusOr<config::v1::ProxyConfig> config = Load(yaml);
  ASSERT_OK(config.status()) << yaml.ToString();
  EXPECT_EQ(config->metrics().max_peer_identities(), 7u);

  yaml.extra = "outbound: [ {name: broken\n";
  EXPECT_THAT(Load(yaml).status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ProxyYamlTest, IdentitySectionHoldsOnlyTheIdentity) {
  ProxyYaml yaml = FileIdentity();
  yaml.AddInbound("in", "127.0.0.1:8080");
  yaml.admin.address = "127.0.0.1:0";
  const std::string section = yaml.IdentitySection();
  EXPECT_THAT(section,
              HasSubstr("identity:\n  spiffe_id: \"spiffe://cluster.local/ns/shop/sa/cart\""));
  EXPECT_THAT(section, Not(HasSubstr("inbound:")));
  EXPECT_THAT(section, Not(HasSubstr("admin:")));
  EXPECT_EQ(yaml.ToString().find(section), 0u);
}

}  // namespace
}  // namespace palisade::testing
