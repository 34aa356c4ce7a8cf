#include "proxy/config/config_loader.h"

#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "tests/util/status_matchers.h"

namespace palisade::config {
namespace {

using ::palisade::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;
using v1::ProxyConfig;

constexpr char kTestdata[] = "tests/testdata/config";

int64_t Millis(const google::protobuf::Duration& d) {
  return d.seconds() * 1000 + d.nanos() / 1000000;
}

std::string TempDir() {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return tmp != nullptr ? tmp : "/tmp";
}

std::string Write(const std::string& name, const std::string& contents) {
  const std::string path = TempDir() + "/" + name;
  std::ofstream(path) << contents;
  return path;
}

// The effective configuration as an admin /config endpoint would print it.
std::string ToJson(const ProxyConfig& config) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.add_whitespace = true;
  std::string json;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(config, &json, options).ok());
  return json;
}

TEST(ConfigLoaderTest, LoadsTheFileIdentityExample) {
  ASSERT_OK_AND_ASSIGN(ProxyConfig config,
                       LoadProxyConfigFile(absl::StrCat(kTestdata, "/file_identity.yaml")));
  EXPECT_EQ(config.identity().spiffe_id(), "spiffe://cluster.local/ns/shop/sa/cart");
  // Relative file names are resolved against the config file's directory.
  EXPECT_EQ(config.identity().files().certificate_chain_file(),
            absl::StrCat(kTestdata, "/certs/svid.pem"));
  EXPECT_EQ(config.identity().files().trust_bundles(0).file(),
            absl::StrCat(kTestdata, "/certs/bundle.pem"));
  ASSERT_EQ(config.inbound_size(), 1);
  EXPECT_EQ(config.inbound(0).forward_to(), "127.0.0.1:8080");
  EXPECT_EQ(config.inbound(0).authorization().path_prefixes(0), "spiffe://cluster.local/ns/shop/");
  EXPECT_EQ(Millis(config.inbound(0).timeouts().handshake()), 5000);
  EXPECT_EQ(Millis(config.inbound(0).timeouts().connect()), 5000);
  ASSERT_EQ(config.outbound_size(), 1);
  EXPECT_EQ(config.outbound(0).limits().max_connections(), 500u);
  EXPECT_EQ(config.outbound(0).limits().buffer_high_water_bytes(), 262144u);
  EXPECT_EQ(config.tls().min_version(), "1.3");
  EXPECT_EQ(config.logging().format(), "json");
  EXPECT_EQ(config.logging().level(), "info");
}

TEST(ConfigLoaderTest, LoadsTheControlPlaneExample) {
  ASSERT_OK_AND_ASSIGN(ProxyConfig config,
                       LoadProxyConfigFile(absl::StrCat(kTestdata, "/control_plane.yaml")));
  const v1::ControlPlaneIdentitySource& cp = config.identity().control_plane();
  EXPECT_EQ(cp.address(), "palisade-control.palisade.svc:15012");
  EXPECT_EQ(cp.join_token_file(), absl::StrCat(kTestdata, "/certs/join_token"));
  EXPECT_EQ(cp.renew_fraction(), 0.6);
  EXPECT_EQ(Millis(cp.initial_backoff()), 1000);
  EXPECT_EQ(Millis(cp.max_backoff()), 60000);
  EXPECT_EQ(config.outbound(1).expected_peer().trust_domain(), "partner.example");
  EXPECT_THAT(cp.federated_trust_domains(), ::testing::ElementsAre("partner.example"));
  EXPECT_EQ(config.runtime().workers(), 2u);
}

TEST(ConfigLoaderTest, ReloadsTheEffectiveConfigurationItPrintsUnchanged) {
  for (const char* name : {"file_identity.yaml", "control_plane.yaml"}) {
    ASSERT_OK_AND_ASSIGN(ProxyConfig loaded,
                         LoadProxyConfigFile(absl::StrCat(kTestdata, "/", name)));
    // JSON is YAML: what /config prints is itself a valid configuration.
    const std::string printed = ToJson(loaded);
    ASSERT_OK_AND_ASSIGN(ProxyConfig reloaded, LoadProxyConfigYaml(printed, "printed.json"));
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(loaded, reloaded))
        << name << "\nprinted:\n"
        << printed << "\nreloaded:\n"
        << reloaded.DebugString();
  }
}

TEST(ConfigLoaderTest, WritesEveryDefaultIntoTheResult) {
  const std::string bundle = Write("d_bundle.pem", "-----BEGIN CERTIFICATE-----\n");
  const std::string token = Write("d_token", "t");
  const std::string yaml = absl::StrCat(R"(
identity:
  control_plane:
    address: cp:15012
    server_spiffe_id: spiffe://td/cp
    bootstrap_bundle_file: )",
                                        bundle, R"(
    join_token_file: )",
                                        token, R"(
outbound:
  - name: out
    address: 127.0.0.1:1
    upstream: up:2
    expected_peer: {trust_domain: td}
)");
  LoadOptions options;
  options.hardware_threads = 6;
  ASSERT_OK_AND_ASSIGN(ProxyConfig config, LoadProxyConfigYaml(yaml, "minimal.yaml", options));
  const v1::OutboundListener& out = config.outbound(0);
  EXPECT_EQ(Millis(out.timeouts().handshake()), 10000);
  EXPECT_EQ(Millis(out.timeouts().connect()), 5000);
  EXPECT_EQ(Millis(out.timeouts().idle()), 3600000);
  EXPECT_EQ(out.limits().max_connections(), 10000u);
  EXPECT_EQ(out.limits().buffer_high_water_bytes(), 262144u);
  EXPECT_EQ(config.admin().address(), "127.0.0.1:15000");
  EXPECT_EQ(config.runtime().workers(), 6u);
  EXPECT_EQ(Millis(config.runtime().drain_timeout()), 30000);
  EXPECT_EQ(Millis(config.runtime().startup_hold()), 15000);
  EXPECT_EQ(config.tls().min_version(), "1.2");
  EXPECT_TRUE(config.tls().session_resumption());
  EXPECT_EQ(Millis(config.tls().ticket_key_rotation()), 3600000);
  EXPECT_EQ(config.logging().level(), "info");
  EXPECT_EQ(config.logging().format(), "text");
  EXPECT_TRUE(config.logging().access_log());
  EXPECT_EQ(config.metrics().max_peer_identities(), 1000u);
  EXPECT_TRUE(config.reauthentication().has_on_peer_expiry());
  EXPECT_FALSE(config.reauthentication().on_peer_expiry());  // rotation is not a loss of trust
  EXPECT_TRUE(config.reauthentication().on_root_removed());
  EXPECT_TRUE(config.reauthentication().on_policy_change());
  EXPECT_EQ(Millis(config.reauthentication().grace_period()), 10000);
  EXPECT_EQ(config.identity().control_plane().renew_fraction(), 0.5);
  EXPECT_EQ(Millis(config.identity().control_plane().initial_backoff()), 1000);
  EXPECT_EQ(Millis(config.identity().control_plane().max_backoff()), 30000);

  ASSERT_OK_AND_ASSIGN(ProxyConfig on_this_host, LoadProxyConfigYaml(yaml, "minimal.yaml"));
  EXPECT_GE(on_this_host.runtime().workers(), 1u);
}

TEST(ConfigLoaderTest, KeepsAbsoluteFileNamesAsWritten) {
  const std::string dir = TempDir();
  const std::string bundle = Write("abs_bundle.pem", "-----BEGIN CERTIFICATE-----\n");
  Write("rel_token", "t");
  const std::string path = Write("abs.yaml", absl::StrCat(R"(
identity:
  control_plane:
    address: cp:15012
    server_spiffe_id: spiffe://td/cp
    bootstrap_bundle_file: )",
                                                          bundle, R"(
    join_token_file: rel_token
outbound:
  - {name: out, address: "127.0.0.1:1", upstream: "up:2", expected_peer: {trust_domain: td}}
)"));
  ASSERT_OK_AND_ASSIGN(ProxyConfig config, LoadProxyConfigFile(path));
  EXPECT_EQ(config.identity().control_plane().bootstrap_bundle_file(), bundle);
  EXPECT_EQ(config.identity().control_plane().join_token_file(), dir + "/rel_token");
  // The default sits beside it; a relative one is resolved like the others.
  EXPECT_EQ(config.identity().control_plane().reattestation_token_file(),
            dir + "/rel_token.reattest");
  std::string yaml;
  {
    std::ifstream in(path);
    yaml.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const std::string explicit_path =
      Write("rel.yaml", absl::StrReplaceAll(yaml, {{"    join_token_file: rel_token\n",
                                                    "    join_token_file: rel_token\n"
                                                    "    reattestation_token_file: kept/rt\n"}}));
  ASSERT_TRUE(::mkdir((dir + "/kept").c_str(), 0700) == 0 || errno == EEXIST);
  ASSERT_OK_AND_ASSIGN(config, LoadProxyConfigFile(explicit_path));
  EXPECT_EQ(config.identity().control_plane().reattestation_token_file(), dir + "/kept/rt");
}

TEST(ConfigLoaderTest, NamesTheOsErrorWhenTheFileCannotBeRead) {
  EXPECT_THAT(LoadProxyConfigFile("/nonexistent/proxy.yaml"),
              StatusIs(absl::StatusCode::kNotFound,
                       "config file \"/nonexistent/proxy.yaml\": cannot open: No such file or "
                       "directory"));
  EXPECT_THAT(LoadProxyConfigFile("/"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is a directory")));
}

TEST(ConfigLoaderTest, RefusesAnEmptyFile) {
  EXPECT_THAT(
      LoadProxyConfigFile(Write("empty.yaml", "")),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty.yaml: the document is empty")));
}

TEST(ConfigLoaderTest, ReportsASyntaxErrorWithItsPosition) {
  EXPECT_THAT(LoadProxyConfigYaml("inbound:\n  - name: a\n   address: b\n", "syntax.yaml"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("syntax.yaml: (line 3, column 4): YAML syntax error")));
}

TEST(ConfigLoaderTest, PlacesSemanticProblemsAtTheirLine) {
  EXPECT_THAT(
      LoadProxyConfigYaml(R"(identity:
  files: {}
inbound:
  - name: a
    address: 127.0.0.1:80
    forward_to: 127.0.0.1:81
  - name: a
    address: 127.0.0.1:82
    forward_to: 127.0.0.1:81
)",
                          "dup.yaml"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("inbound[1].name (line 7, column 11): \"a\" is already the name of "
                         "inbound[0].name")));
}

TEST(ConfigLoaderTest, PlacesAMissingFieldAtItsParent) {
  EXPECT_THAT(LoadProxyConfigYaml("identity:\n  files: {}\noutbound:\n  - name: x\n", "m.yaml"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("outbound[0].address (line 4, column 5): is required")));
}

TEST(ConfigLoaderTest, DoesNotRepeatAFieldsTypeErrorAsAMissingValue) {
  const absl::StatusOr<ProxyConfig> result = LoadProxyConfigYaml(R"(
outbound:
  - name: out
    address: {ip: 127.0.0.1}
    upstream: up:1
    expected_peer:
      spifee_id: spiffe://td/x
)",
                                                                 "t.yaml");
  const std::string message(result.status().message());
  EXPECT_THAT(message, HasSubstr("outbound[0].address (line 4, column 14): expected a string, "
                                 "got a map"));
  EXPECT_THAT(message, HasSubstr("outbound[0].expected_peer.spifee_id (line 7, column 7): unknown "
                                 "field (did you mean spiffe_id?)"));
  EXPECT_THAT(message, Not(HasSubstr("outbound[0].address: is required")));
  EXPECT_THAT(message, Not(HasSubstr("expected_peer (line 6, column 5): is required")));
  EXPECT_THAT(message, HasSubstr("identity: is required"));
}

TEST(ConfigLoaderTest, ReportsEveryMistakeOfAConfigFullOfThem) {
  const absl::StatusOr<ProxyConfig> result = LoadProxyConfigYaml(R"(identity:
  spiffe_id: spiffe://Cluster.Local/x
  files:
    certificate_chain_file: /nonexistent/chain.pem
    private_key_file: /nonexistent/key.pem
inbound:
  - name: In
    address: 0.0.0.0:15006
    forward_to: localhost:8080
    timeouts:
      handshake: 10x
      idle: 0s
  - name: in2
    address: 127.0.0.1:15006
    forward_to: 127.0.0.1:8080
    limits:
      max_connections: -5
outbound:
  - name: out
    address: 0.0.0.0:15001
    upstream: payments
admin:
  adress: 127.0.0.1:15000
tls:
  min_version: "1.1"
  session_resumption: yes
runtime:
  workers: 2000
logging:
  level: verbose
)",
                                                                 "bad.yaml");
  ASSERT_THAT(result, StatusIs(absl::StatusCode::kInvalidArgument));
  const std::string message(result.status().message());
  const char* expected[] = {
      // From the YAML conversion, in document order.
      "inbound[0].timeouts.handshake (line 11, column 18): \"10x\" is not a duration",
      "inbound[1].limits.max_connections (line 17, column 24): -5 is negative",
      "admin.adress (line 23, column 3): unknown field (did you mean address?)",
      "tls.session_resumption (line 26, column 23): expected true or false, got \"yes\"",
      // From the semantic checks.
      "identity.spiffe_id (line 2, column 14): invalid SPIFFE ID",
      "identity.files.certificate_chain_file (line 4, column 29): \"/nonexistent",
      "identity.files.private_key_file (line 5, column 23): \"/nonexistent",
      "identity.files.trust_bundles (line 3, column 3): is required",
      "inbound[0].name (line 7, column 11): \"In\" is not a valid name",
      "inbound[0].forward_to (line 9, column 17): \"localhost:8080\": \"localhost\" is not an IP",
      "inbound[0].timeouts.idle (line 12, column 13): 0s must be more than zero",
      "inbound[1].address (line 14, column 14): 127.0.0.1:15006 overlaps inbound[0].address",
      "outbound[0].address (line 20, column 14): 0.0.0.0:15001 is not a loopback address",
      "outbound[0].upstream (line 21, column 15): \"payments\" has no port",
      "outbound[0].expected_peer (line 19, column 5): is required",
      "tls.min_version (line 25, column 16): \"1.1\" is not allowed: TLS 1.2 is the minimum",
      "runtime.workers (line 28, column 12): 2000 is more than 1024",
      "logging.level (line 30, column 10): \"verbose\" is not one of",
  };
  EXPECT_THAT(message, HasSubstr(absl::StrCat("bad.yaml: ", std::size(expected), " problems:")));
  for (const char* problem : expected) EXPECT_THAT(message, HasSubstr(problem));
}

}  // namespace
}  // namespace palisade::config
