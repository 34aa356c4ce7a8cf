#include "proxy/config/config_validator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "proxy/config/config_defaults.h"
#include "tests/util/status_matchers.h"

namespace palisade::config {
namespace {

using ::palisade::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using v1::ProxyConfig;

constexpr char kCertificate[] = "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n";
constexpr char kKey[] = "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n";

class ConfigValidatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = tmp != nullptr ? tmp : "/tmp";
    chain_ = Write("chain.pem", kCertificate);
    key_ = Write("key.pem", kKey);
    bundle_ = Write("bundle.pem", kCertificate);
    token_ = Write("token", "join-token\n");
  }

  std::string Write(const std::string& name, const std::string& contents) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << contents;
    return path;
  }

  // A valid configuration with file identity, one inbound and one outbound listener.
  ProxyConfig FileConfig() {
    ProxyConfig config;
    v1::IdentitySource* identity = config.mutable_identity();
    identity->set_spiffe_id("spiffe://cluster.local/ns/shop/sa/cart");
    identity->mutable_files()->set_certificate_chain_file(chain_);
    identity->mutable_files()->set_private_key_file(key_);
    v1::TrustBundleFile* bundle = identity->mutable_files()->add_trust_bundles();
    bundle->set_trust_domain("cluster.local");
    bundle->set_file(bundle_);
    v1::InboundListener* in = config.add_inbound();
    in->set_name("cart-in");
    in->set_address("0.0.0.0:15006");
    in->set_forward_to("127.0.0.1:8080");
    v1::OutboundListener* out = config.add_outbound();
    out->set_name("to-payments");
    out->set_address("127.0.0.1:15001");
    out->set_upstream("payments.shop:15006");
    out->mutable_expected_peer()->set_spiffe_id("spiffe://cluster.local/ns/shop/sa/payments");
    return config;
  }

  ProxyConfig ControlPlaneConfig() {
    ProxyConfig config = FileConfig();
    v1::ControlPlaneIdentitySource* cp = config.mutable_identity()->mutable_control_plane();
    cp->set_address("palisade-control:15012");
    cp->set_server_spiffe_id("spiffe://cluster.local/palisade/control");
    cp->set_bootstrap_bundle_file(bundle_);
    cp->set_join_token_file(token_);
    return config;
  }

  // Every problem found, rendered as "path: message" (positions are unknown here).
  static std::vector<std::string> Problems(const ProxyConfig& config) {
    ConfigErrors errors;
    ValidateProxyConfig(config, &errors);
    std::vector<std::string> rendered;
    for (const ConfigError& error : errors.errors()) {
      rendered.push_back(ConfigErrors::Render(error));
    }
    return rendered;
  }

  std::string dir_, chain_, key_, bundle_, token_;
};

TEST_F(ConfigValidatorTest, AcceptsAValidFileIdentityConfig) {
  EXPECT_THAT(Problems(FileConfig()), IsEmpty());
}

TEST_F(ConfigValidatorTest, AcceptsAValidControlPlaneConfig) {
  EXPECT_THAT(Problems(ControlPlaneConfig()), IsEmpty());
}

TEST_F(ConfigValidatorTest, GivesTheSameAnswerAfterDefaultsAreApplied) {
  ProxyConfig config = ControlPlaneConfig();
  ApplyDefaults(4, &config);
  EXPECT_THAT(Problems(config), IsEmpty());
  config.mutable_inbound(0)->set_address("127.0.0.1:15000");
  EXPECT_THAT(Problems(config),
              ElementsAre(HasSubstr("admin.address: 127.0.0.1:15000 is already used by "
                                    "inbound[0].address")));
}

TEST_F(ConfigValidatorTest, RequiresAtLeastOneListener) {
  ProxyConfig config = FileConfig();
  config.clear_inbound();
  config.clear_outbound();
  EXPECT_THAT(Problems(config),
              ElementsAre("inbound: no listeners: configure at least one inbound or outbound "
                          "listener"));
}

TEST_F(ConfigValidatorTest, AcceptsOnlyInboundOrOnlyOutbound) {
  ProxyConfig config = FileConfig();
  config.clear_outbound();
  EXPECT_THAT(Problems(config), IsEmpty());
  config = FileConfig();
  config.clear_inbound();
  EXPECT_THAT(Problems(config), IsEmpty());
}

TEST_F(ConfigValidatorTest, RequiresAnIdentitySource) {
  ProxyConfig config = FileConfig();
  config.clear_identity();
  EXPECT_THAT(Problems(config),
              ElementsAre(HasSubstr("identity: is required: set identity.files")));
  config.mutable_identity()->set_spiffe_id("spiffe://cluster.local/x");
  EXPECT_THAT(Problems(config), ElementsAre("identity: set one of files or control_plane: where "
                                            "the SVID comes from"));
}

TEST_F(ConfigValidatorTest, RequiresListenerNames) {
  ProxyConfig config = FileConfig();
  config.mutable_inbound(0)->clear_name();
  EXPECT_THAT(Problems(config), ElementsAre(HasSubstr("inbound[0].name: is required")));
}

TEST_F(ConfigValidatorTest, RefusesListenerNamesOutsideTheAllowedPattern) {
  for (const std::string& name : std::vector<std::string>{
           "Cart", "-cart", "_cart", "cart in", "cart/in", std::string(64, 'a'), "ca\xc3\xa9"}) {
    ProxyConfig config = FileConfig();
    config.mutable_outbound(0)->set_name(name);
    EXPECT_THAT(Problems(config), ElementsAre(HasSubstr("outbound[0].name: \""))) << name;
    EXPECT_THAT(Problems(config), ElementsAre(HasSubstr("is not a valid name: 1 to 63")));
  }
}

TEST_F(ConfigValidatorTest, AcceptsNamesWithDigitsDotsDashesAndUnderscores) {
  for (const std::string& name : std::vector<std::string>{"0", "a.b_c-1", std::string(63, 'z')}) {
    ProxyConfig config = FileConfig();
    config.mutable_outbound(0)->set_name(name);
    EXPECT_THAT(Problems(config), IsEmpty()) << name;
  }
}

TEST_F(ConfigValidatorTest, RefusesANameUsedTwiceAcrossInboundAndOutbound) {
  ProxyConfig config = FileConfig();
  config.mutable_outbound(0)->set_name("cart-in");
  EXPECT_THAT(Problems(config),
              ElementsAre("outbound[0].name: \"cart-in\" is already the name of inbound[0].name"));
}

TEST_F(ConfigValidatorTest, RefusesAListenAddressThatIsNotIpColonPort) {
  ProxyConfig config = FileConfig();
  config.mutable_inbound(0)->set_address("localhost:15006");
  config.mutable_outbound(0)->clear_address();
  EXPECT_THAT(Problems(config),
              ElementsAre(HasSubstr("inbound[0].address: \"localhost:15006\": \"localhost\" is "
                                    "not an IP address"),
                          "outbound[0].address: is required: ip:port to listen on"));
}

TEST_F(ConfigValidatorTest, AcceptsPortZeroForListenersEvenTwice) {
  ProxyConfig config = FileConfig();
  config.mutable_inbound(0)->set_address("127.0.0.1:0");
  config.mutable_outbound(0)->set_address("127.0.0.1:0");
  config.mutable_admin()->set_address("[::1]:0");
  EXPECT_THAT(Problems(config), IsEmpty());
}

TEST_F(ConfigValidatorTest, RequiresAForwardAddressThatCanBeConnectedTo) {
  ProxyConfig config = FileConfig();
  config.mutable_inbound(0)->set_forward_to("127.0.0.1:0");
  EXPECT_THAT(Problems(config), ElementsAre("inbound[0].forward_to: \"127.0.0.1:0\": port 0 "
                                            "cannot be connected to"));
  config.mutable_inbound(0)->set_forward_to("app:8080");
  EXPECT_THAT(Problems(config),
              ElementsAre(HasSubstr("inbound[0].forward_to: \"app:8080\": \"app\" is not an IP")));
  config.mutable_inbound(0)->clear_forward_to();
  EXPECT_THAT(Problems(config), ElementsAre(HasSubstr("inbound[0].forward_to: is required")));
}

TEST_F(ConfigValidatorTest, RequiresAnUpstreamHostAndPort) {
  ProxyConfig config = FileConfig();
  config.mutable_outbound(0)->set_upstream("payments.shop");
  EXPECT_THAT(Problems(config),
              ElementsAre(HasSubstr("outbound[0].upstream: \"payments.shop\" has no port")));
  config.mutable_outbound(0)->set_upstream("[2001:db8::1]:443");
  EXPECT_THAT(Problems(config), IsEmpty());
  config.mutable_outbound(0)->clear_upstream();
  EXPECT_THAT(Problems(config), ElementsAre(HasSubstr("outbound[0].upstream: is required")));
}

TEST_F(ConfigValidatorTest, RefusesTwoListenersOnTheSameAddress) {
  ProxyConfig config = FileConfig();
  *config.add_outbound() = config.outbound(0);
  config.mutable_outbound(1)->set_name("second");
  EXPECT_THAT(Problems(config), ElementsAre("outbound[1].address: 127.0.0.1:15001 is already used "
                                            "by outbound[0].address"));
}

TEST_F(ConfigValidatorTest, RefusesAListenerThatAWildcardAddressOverlaps) {
  ProxyConfig config = FileConfig();
  config.mutable_outbound(0)->set_address("127.0.0.1:15006");
  EXPECT_THAT(Problems(config),
              ElementsAre("outbound[0].address: 127.0.0.1:15006 overlaps inbound[0].address "
                          "(0.0.0.0:15006): a wildcard address takes the port on every interface"));
}

TEST_F(ConfigValidatorTest, KeepsAddressFamiliesApartWhenCheckingOverlaps) {
  ProxyConfig config = FileConfig();
  config.mutable_outbound(0)->set_address("[::1]:15006");  // inbound[0] is 0.0.0.0:15006
  EXPECT_THAT(Problems(config), IsEmpty());
  config.mutable_inbound(0)->set_address("[::]:15006");
  EXPECT_THAT(Problems(config),
              ElementsAre("outbound[0].address: [::1]:15006 overlaps inbound[0].address "
                          "([::]:15006): a wildcard address takes the port on every interface"));
}

TEST_F(ConfigValidatorTest, RefusesAListenerOnTheDefaultAdminAddress) {
  ProxyConfig config = FileConfig();
  config.mutable_outbound(0)->set_address("127.0.0.1:15000");
  EXPECT_THAT(Problems(config), ElementsAre("admin.address: 127.0.0.1:15000 is already used by "
                                            "outbound[0].address"));
}

TEST_F(ConfigValidatorTest, RefusesANonLoopbackOutboundListenerUnlessAllowed) {
  ProxyConfig config = FileConfig();
  config.mutable_outbound(0)->set_address("0.0.0.0:15001");
  EXPECT_THAT(Problems(config),
              ElementsAre("outbound[0].address: 0.0.0.0:15001 is not a loopback address, so other "
                          "hosts could reach it without authentication; bind to 127.0.0.1 or "
                          "[::1], or set allow_non_loopback: true"));
  config.mutable_outbound(0)->set_allow_non_loopback(true);
  EXPECT_THAT(Problems(config), IsEmpty());
}

TEST_F(ConfigValidatorTest, RefusesANonLoopbackAdminAddressUnlessAllowed) {
  ProxyConfig config = FileConfig();
  config.mutable_admin()->set_address("10.0.0.5:15000");
  EXPECT_THAT(Problems(config),
              ElementsAre(HasSubstr("admin.address: 10.0.0.5:15000 is not a loopback address")));
  config.mutable_admin()->set_allow_non_loopback(true);
  EXPECT_THAT(Problems(config), IsEmpty());
  config.mutable_admin()->set_address("[::1]:15000");
  config.mutable_admin()->set_allow_non_loopback(false);
  EXPECT_THAT(Problems(config), IsEmpty());
}

TEST_F(ConfigValidatorTest, RefusesAdminFieldsWhenTheAdminServerIsDisabled) {
  ProxyConfig config = FileConfig();
  config.mutable_admin()->set_enabled(false);
  EXPECT_THAT(Problems(config), IsEmpty());
  config.mutable_admin()->set_address("127.0.0.1:15000");
  config.mutable_admin()->set_allow_non_loopback(true);
  config.mutable_admin()->set_public_address("10.0.0.5:15020");
  EXPECT_THAT(Problems(config),
              ElementsAre(HasSubstr("admin.address: is set but admin.enabled is false"),
                          HasSubstr("admin.allow_non_loopback: is set but admin.enabled is false"),
                          HasSubstr("admin.public_address: is set but admin.enabled is false")));
}

TEST_F(ConfigValidatorTest, ADisabledAdminServerHoldsNoPort) {
  // The default admin address is free for a listener once the server is off.
  ProxyConfig config = FileConfig();
  config.mutable_inbound(0)->set_address("127.0.0.1:15000");
  EXPECT_THAT(Problems(config), ElementsAre(HasSubstr("is already used by")));
  config.mutable_admin()->set_enabled(false);
  EXPECT_THAT(Problems(config), IsEmpty());
}

TEST_F(ConfigValidatorTest, NamesTheOsErrorOfAMissingFile) {
  ProxyConfig config = FileConfig();
  config.mutable_identity()->mutable_files()->set_private_key_file(dir_ + "/missing.key");
  EXPECT_THAT(Problems(config), ElementsAre("identity.files.private_key_file: \"" + dir_ +
                                            "/missing.key\": cannot open: No such file or "
                                            "directory"));
}

TEST_F(ConfigValidatorTest, RefusesFilesThatDoNotLookLikePem) {
  ProxyConfig config = FileConfig();
  config.mutable_identity()->mutable_files()->set_certificate_chain_file(
      Write("not_pem", "hello\n"));
  config.mutable_identity()->mutable_files()->mutable_trust_bundles(0)->set_file(key_);
  EXPECT_THAT(Problems(config),
              ElementsAre(HasSubstr("identity.files.certificate_chain_file: \"" + dir_ +
                                    "/not_pem\" does not look like PEM"),
                          HasSubstr("identity.files.trust_bundles[0].file: \"" + dir_ +
                                    "/key.pem\" holds no PEM certificate")));
}

TEST_F(ConfigValidatorTest, RequiresTheFileIdentityFiles) {
  ProxyConfig config = FileConfig();
  config.mutable_identity()->mutable_files()->clear_certificate_chain_file();
  config.mutable_identity()->mutable_files()->clear_private_key_file();
  config.mutable_identity()->mutable_files()->clear_trust_bundles();
  EXPECT_THAT(Problems(config),
              ElementsAre("identity.files.certificate_chain_file: is required: a file name",
                          "identity.files.private_key_file: is required: a file name",
                          HasSubstr("identity.files.trust_bundles: is required")));
}

TEST_F(ConfigValidatorTest, RefusesInvalidOrRepeatedBundleTrustDomains) {
  ProxyConfig config = FileConfig();
  v1::FileIdentitySource* files = config.mutable_identity()->mutable_files();
  *files->add_trust_bundles() = files->trust_bundles(0);
  files->add_trust_bundles()->set_file(bundle_);
  *files->add_trust_bundles() = files->trust_bundles(0);
  files->mutable_trust_bundles(3)->set_trust_domain("Cluster.Local");
  EXPECT_THAT(
      Problems(config),
      ElementsAre("identity.files.trust_bundles[1].trust_domain: trust domain \"cluster.local\" "
                  "already has a bundle at identity.files.trust_bundles[0].trust_domain; put all "
                  "its roots in one file",
                  "identity.files.trust_bundles[2].trust_domain: is required",
                  HasSubstr("identity.files.trust_bundles[3].trust_domain: invalid trust domain "
                            "\"Cluster.Local\": trust domain must be lowercase")));
}

TEST_F(ConfigValidatorTest, RefusesInvalidSpiffeIdsWhereverTheyAppear) {
  ProxyConfig config = ControlPlaneConfig();
  config.mutable_identity()->set_spiffe_id("https://cluster.local/x");
  config.mutable_identity()->mutable_control_plane()->set_server_spiffe_id("spiffe://cp//x");
  config.mutable_inbound(0)->mutable_authorization()->add_spiffe_ids("spiffe://cluster.local/a");
  config.mutable_inbound(0)->mutable_authorization()->add_spiffe_ids("spiffe://cluster.local/a/");
  config.mutable_outbound(0)->mutable_expected_peer()->set_spiffe_id("spiffe://CLUSTER/x");
  EXPECT_THAT(
      Problems(config),
      ElementsAre(HasSubstr("identity.spiffe_id: invalid SPIFFE ID \"https://cluster.local/x\": "
                            "scheme"),
                  HasSubstr("identity.control_plane.server_spiffe_id: invalid SPIFFE ID "
                            "\"spiffe://cp//x\": path contains an empty segment"),
                  HasSubstr("inbound[0].authorization.spiffe_ids[1]: invalid SPIFFE ID "
                            "\"spiffe://cluster.local/a/\": path has a trailing slash"),
                  HasSubstr("outbound[0].expected_peer.spiffe_id: invalid SPIFFE ID")));
}

TEST_F(ConfigValidatorTest, RefusesInvalidTrustDomainsInPolicies) {
  ProxyConfig config = FileConfig();
  config.mutable_inbound(0)->mutable_authorization()->add_trust_domains("spiffe://td");
  config.mutable_outbound(0)->mutable_expected_peer()->set_trust_domain("td:443");
  EXPECT_THAT(Problems(config),
              ElementsAre(HasSubstr("inbound[0].authorization.trust_domains[0]: invalid trust "
                                    "domain \"spiffe://td\": give the bare name"),
                          HasSubstr("outbound[0].expected_peer.trust_domain: invalid trust domain "
                                    "\"td:443\": port is not allowed")));
}

TEST_F(ConfigValidatorTest, RequiresPathPrefixesToBeSpiffeUris) {
  ProxyConfig config = FileConfig();
  v1::AuthorizationPolicy* policy = config.mutable_inbound(0)->mutable_authorization();
  policy->add_path_prefixes("spiffe://cluster.local/ns/shop/");
  policy->add_path_prefixes("spiffe://cluster.local/ns/shop");
  policy->add_path_prefixes("spiffe://cluster.local/");
  policy->add_path_prefixes("cluster.local/ns/shop/");
  policy->add_path_prefixes("spiffe://cluster.local/ns//");
  config.mutable_outbound(0)->mutable_expected_peer()->set_path_prefix("/ns/shop/");
  EXPECT_THAT(
      Problems(config),
      ElementsAre("inbound[0].authorization.path_prefixes[3]: \"cluster.local/ns/shop/\" must "
                  "start with \"spiffe://\"",
                  HasSubstr("inbound[0].authorization.path_prefixes[4]: path prefix "
                            "\"spiffe://cluster.local/ns//\": invalid SPIFFE ID path"),
                  "outbound[0].expected_peer.path_prefix: \"/ns/shop/\" must start with "
                  "\"spiffe://\""));
}

TEST_F(ConfigValidatorTest, RefusesAnAuthorizationPolicyThatAllowsNoPeer) {
  ProxyConfig config = FileConfig();
  config.mutable_inbound(0)->mutable_authorization();
  EXPECT_THAT(Problems(config), ElementsAre(HasSubstr("inbound[0].authorization: allows no peer")));
}

TEST_F(ConfigValidatorTest, RequiresAnExpectedPeerOnEveryOutboundListener) {
  ProxyConfig config = FileConfig();
  config.mutable_outbound(0)->clear_expected_peer();
  EXPECT_THAT(Problems(config),
              ElementsAre("outbound[0].expected_peer: is required: set one of spiffe_id, "
                          "trust_domain or path_prefix, the identity the upstream must present"));
}

TEST_F(ConfigValidatorTest, RefusesAPeerTrustDomainWithoutATrustBundleSource) {
  ProxyConfig config = ControlPlaneConfig();
  config.mutable_outbound(0)->mutable_expected_peer()->set_trust_domain("partner.example");
  EXPECT_THAT(Problems(config),
              ElementsAre(HasSubstr("outbound[0].expected_peer.trust_domain: no trust bundle "
                                    "source for \"partner.example\"")));
  config.mutable_identity()->mutable_control_plane()->add_federated_trust_domains(
      "partner.example");
  EXPECT_THAT(Problems(config), IsEmpty());
}

TEST_F(ConfigValidatorTest, RefusesTlsBelowOnePointTwo) {
  for (const char* version : {"1.0", "1.1", "1.4", "TLSv1.2", "1"}) {
    ProxyConfig config = FileConfig();
    config.mutable_tls()->set_min_version(version);
    EXPECT_THAT(Problems(config),
                ElementsAre(absl::StrCat("tls.min_version: \"", version,
                                         "\" is not allowed: TLS 1.2 is the minimum; write "
                                         "\"1.2\" or \"1.3\"")));
  }
  for (const char* version : {"1.2", "1.3"}) {
    ProxyConfig config = FileConfig();
    config.mutable_tls()->set_min_version(version);
    EXPECT_THAT(Problems(config), IsEmpty());
  }
}

TEST_F(ConfigValidatorTest, RequiresRenewFractionBetweenZeroAndOne) {
  for (double fraction : {1.0, 1.5, -0.1}) {
    ProxyConfig config = ControlPlaneConfig();
    config.mutable_identity()->mutable_control_plane()->set_renew_fraction(fraction);
    EXPECT_THAT(Problems(config),
                ElementsAre(HasSubstr("identity.control_plane.renew_fraction: ")));
    EXPECT_THAT(Problems(config), ElementsAre(HasSubstr("must be more than 0 and less than 1")));
  }
  ProxyConfig config = ControlPlaneConfig();
  config.mutable_identity()->mutable_control_plane()->set_renew_fraction(0.7);
  EXPECT_THAT(Problems(config), IsEmpty());
}

TEST_F(ConfigValidatorTest, RequiresInitialBackoffNoLongerThanMax) {
  ProxyConfig config = ControlPlaneConfig();
  v1::ControlPlaneIdentitySource* cp = config.mutable_identity()->mutable_control_plane();
  cp->mutable_initial_backoff()->set_seconds(10);
  cp->mutable_max_backoff()->set_seconds(5);
  EXPECT_THAT(Problems(config), ElementsAre("identity.control_plane.initial_backoff: 10s is "
                                            "longer than max_backoff (5s)"));
  cp->clear_max_backoff();
  cp->mutable_initial_backoff()->set_seconds(60);
  EXPECT_THAT(Problems(config), ElementsAre("identity.control_plane.initial_backoff: 1m is "
                                            "longer than max_backoff (30s, the default)"));
}

TEST_F(ConfigValidatorTest, RefusesZeroWhereZeroWouldExpireAtOnce) {
  ProxyConfig config = ControlPlaneConfig();
  config.mutable_inbound(0)->mutable_timeouts()->mutable_handshake();
  config.mutable_outbound(0)->mutable_timeouts()->mutable_idle();
  config.mutable_tls()->mutable_ticket_key_rotation();
  config.mutable_identity()->mutable_control_plane()->mutable_initial_backoff();
  EXPECT_THAT(Problems(config),
              ElementsAre("identity.control_plane.initial_backoff: 0s must be more than zero "
                          "(remove it for the default)",
                          HasSubstr("inbound[0].timeouts.handshake: 0s must be more than zero"),
                          HasSubstr("outbound[0].timeouts.idle: 0s must be more than zero"),
                          HasSubstr("tls.ticket_key_rotation: 0s must be more than zero")));
}

TEST_F(ConfigValidatorTest, AcceptsZeroWhereZeroMeansAtOnce) {
  ProxyConfig config = FileConfig();
  config.mutable_runtime()->mutable_drain_timeout();
  config.mutable_runtime()->mutable_startup_hold();
  config.mutable_runtime()->mutable_dns_cache();
  config.mutable_reauthentication()->mutable_grace_period();
  EXPECT_THAT(Problems(config), IsEmpty());
  config.mutable_runtime()->mutable_drain_timeout()->set_seconds(-1);
  EXPECT_THAT(Problems(config), ElementsAre("runtime.drain_timeout: must not be negative"));
  config.mutable_runtime()->mutable_drain_timeout()->set_seconds(1);
  config.mutable_runtime()->mutable_dns_cache()->set_seconds(-5);
  EXPECT_THAT(Problems(config), ElementsAre("runtime.dns_cache: must not be negative"));
}

TEST_F(ConfigValidatorTest, CapsWorkersAt1024) {
  ProxyConfig config = FileConfig();
  config.mutable_runtime()->set_workers(1024);
  EXPECT_THAT(Problems(config), IsEmpty());
  config.mutable_runtime()->set_workers(1025);
  EXPECT_THAT(Problems(config),
              ElementsAre("runtime.workers: 1025 is more than 1024 (0 means one per core)"));
}

TEST_F(ConfigValidatorTest, RefusesAPerSourcePendingBoundAboveTheListenersBound) {
  ProxyConfig config = FileConfig();
  config.mutable_inbound(0)->mutable_limits()->set_max_pending_handshakes(100);
  config.mutable_inbound(0)->mutable_limits()->set_max_pending_handshakes_per_source(100);
  config.mutable_outbound(0)->mutable_limits()->set_max_pending_handshakes_per_source(4096);
  EXPECT_THAT(Problems(config), IsEmpty());
  config.mutable_inbound(0)->mutable_limits()->set_max_pending_handshakes_per_source(101);
  config.mutable_outbound(0)->mutable_limits()->set_max_pending_handshakes_per_source(5000);
  EXPECT_THAT(Problems(config),
              ElementsAre("inbound[0].limits.max_pending_handshakes_per_source: 101 is more than "
                          "max_pending_handshakes (100)",
                          "outbound[0].limits.max_pending_handshakes_per_source: 5000 is more "
                          "than max_pending_handshakes (4096, the default)"));
}

TEST_F(ConfigValidatorTest, RefusesUnknownLogLevelsAndFormats) {
  ProxyConfig config = FileConfig();
  config.mutable_logging()->set_level("verbose");
  config.mutable_logging()->set_format("xml");
  EXPECT_THAT(Problems(config),
              ElementsAre("logging.level: \"verbose\" is not one of: trace, debug, info, warn, "
                          "error",
                          "logging.format: \"xml\" is not one of: text, json"));
  for (const char* level : {"trace", "debug", "info", "warn", "error"}) {
    config.mutable_logging()->set_level(level);
    config.mutable_logging()->set_format("json");
    EXPECT_THAT(Problems(config), IsEmpty());
  }
}

TEST_F(ConfigValidatorTest, RequiresEverythingTheControlPlaneNeeds) {
  ProxyConfig config = ControlPlaneConfig();
  v1::ControlPlaneIdentitySource* cp = config.mutable_identity()->mutable_control_plane();
  cp->clear_address();
  cp->clear_server_spiffe_id();
  cp->clear_bootstrap_bundle_file();
  cp->clear_join_token_file();
  EXPECT_THAT(Problems(config),
              ElementsAre(HasSubstr("identity.control_plane.address: is required"),
                          HasSubstr("identity.control_plane.server_spiffe_id: is required"),
                          HasSubstr("identity.control_plane.bootstrap_bundle_file: is required"),
                          HasSubstr("identity.control_plane: set one of join_token_file or "
                                    "service_account_token_file")));
}

TEST_F(ConfigValidatorTest, ChecksTheControlPlaneAddressAndTokenFile) {
  ProxyConfig config = ControlPlaneConfig();
  v1::ControlPlaneIdentitySource* cp = config.mutable_identity()->mutable_control_plane();
  cp->set_address("palisade control:15012");
  cp->set_service_account_token_file(Write("empty_token", ""));
  EXPECT_THAT(Problems(config),
              ElementsAre(HasSubstr("identity.control_plane.address: \"palisade control:15012\""),
                          HasSubstr("identity.control_plane.service_account_token_file: \"" + dir_ +
                                    "/empty_token\" is empty")));
}

TEST_F(ConfigValidatorTest, AcceptsFurtherControlPlaneReplicas) {
  ProxyConfig config = ControlPlaneConfig();
  v1::ControlPlaneIdentitySource* cp = config.mutable_identity()->mutable_control_plane();
  cp->add_addresses("palisade-control-1.palisade-control:15012");
  cp->add_addresses("10.0.0.7:15012");
  cp->add_addresses("[fd00::7]:15012");
  EXPECT_THAT(Problems(config), IsEmpty());
}

TEST_F(ConfigValidatorTest, RefusesBadOrRepeatedControlPlaneReplicasNamingTheEntry) {
  ProxyConfig config = ControlPlaneConfig();
  v1::ControlPlaneIdentitySource* cp = config.mutable_identity()->mutable_control_plane();
  cp->add_addresses("10.0.0.7:15012");
  cp->add_addresses("palisade-control:15012");  // the same as address
  cp->add_addresses("10.0.0.8");                // no port
  cp->add_addresses("10.0.0.7:15012");
  cp->add_addresses("");
  EXPECT_THAT(
      Problems(config),
      ElementsAre(HasSubstr("identity.control_plane.addresses[1]: \"palisade-control:15012\" is "
                            "listed twice (also identity.control_plane.address)"),
                  HasSubstr("identity.control_plane.addresses[2]: "),
                  HasSubstr("identity.control_plane.addresses[3]: \"10.0.0.7:15012\" is listed "
                            "twice (also identity.control_plane.addresses[0])"),
                  HasSubstr("identity.control_plane.addresses[4]: is empty")));
}

TEST_F(ConfigValidatorTest, ChecksWhereTheReattestationTokenWillBeKept) {
  ProxyConfig config = ControlPlaneConfig();
  v1::ControlPlaneIdentitySource* cp = config.mutable_identity()->mutable_control_plane();
  EXPECT_THAT(Problems(config), IsEmpty());  // beside the join token, not there yet
  cp->set_reattestation_token_file(dir_ + "/missing/token.reattest");
  EXPECT_THAT(Problems(config),
              ElementsAre(HasSubstr("identity.control_plane.reattestation_token_file: \"" + dir_ +
                                    "/missing/token.reattest\" cannot be written")));
  // The default is checked too: here it would be a directory.
  cp->clear_reattestation_token_file();
  ASSERT_EQ(::mkdir((token_ + ".reattest").c_str(), 0700), 0);
  EXPECT_THAT(Problems(config),
              ElementsAre(HasSubstr("identity.control_plane.reattestation_token_file: \"" + token_ +
                                    ".reattest\": is a directory")));
}

TEST_F(ConfigValidatorTest, ReportsEveryProblemInOneStatus) {
  ProxyConfig config = FileConfig();
  config.mutable_identity()->set_spiffe_id("nope");
  config.mutable_inbound(0)->set_name("Bad Name");
  config.mutable_outbound(0)->set_address("0.0.0.0:15001");
  config.mutable_outbound(0)->clear_expected_peer();
  config.mutable_tls()->set_min_version("1.1");
  config.mutable_runtime()->set_workers(5000);
  config.mutable_logging()->set_format("yaml");
  const absl::Status status = ValidateProxyConfig(config);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  const std::string message(status.message());
  EXPECT_THAT(message, HasSubstr("configuration: 7 problems:"));
  for (const char* path :
       {"identity.spiffe_id", "inbound[0].name", "outbound[0].address", "outbound[0].expected_peer",
        "tls.min_version", "runtime.workers", "logging.format"}) {
    EXPECT_THAT(message, HasSubstr(absl::StrCat("\n  ", path, ": "))) << path;
  }
  EXPECT_THAT(ValidateProxyConfig(FileConfig()), IsOk());
}

}  // namespace
}  // namespace palisade::config
