#include "proxy/config/trust_domain_check.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace palisade::config {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Optional;

// Files are not read here: only the trust domains matter.
v1::ProxyConfig ControlPlaneConfig() {
  v1::ProxyConfig config;
  config.mutable_identity()->set_spiffe_id("spiffe://a.test/ns/shop/sa/checkout");
  v1::ControlPlaneIdentitySource* cp = config.mutable_identity()->mutable_control_plane();
  cp->set_server_spiffe_id("spiffe://a.test/palisade/control");
  cp->add_federated_trust_domains("partner.example");
  v1::InboundListener* in = config.add_inbound();
  in->mutable_authorization()->add_trust_domains("a.test");
  in->mutable_authorization()->add_spiffe_ids("spiffe://partner.example/api");
  in->mutable_authorization()->add_path_prefixes("spiffe://partner.example/ns/");
  v1::OutboundListener* out = config.add_outbound();
  out->mutable_expected_peer()->set_trust_domain("partner.example");
  return config;
}

v1::ProxyConfig FileConfig() {
  v1::ProxyConfig config;
  v1::FileIdentitySource* files = config.mutable_identity()->mutable_files();
  files->add_trust_bundles()->set_trust_domain("a.test");
  files->add_trust_bundles()->set_trust_domain("partner.example");
  config.add_outbound()->mutable_expected_peer()->set_path_prefix("spiffe://a.test/ns/");
  config.add_outbound()->mutable_expected_peer()->set_spiffe_id("spiffe://partner.example/x");
  return config;
}

std::vector<std::string> Problems(const v1::ProxyConfig& config) {
  ConfigErrors errors;
  CheckTrustDomainSources(config, &errors);
  std::vector<std::string> rendered;
  for (const ConfigError& error : errors.errors()) rendered.push_back(ConfigErrors::Render(error));
  return rendered;
}

TEST(TrustDomainCheckTest, AcceptsTheOwnAndTheFederatedDomainsOfTheControlPlane) {
  EXPECT_THAT(Problems(ControlPlaneConfig()), IsEmpty());
}

TEST(TrustDomainCheckTest, AcceptsEveryDomainWithABundleFile) {
  EXPECT_THAT(Problems(FileConfig()), IsEmpty());
}

TEST(TrustDomainCheckTest, NamesEveryFieldThatExpectsADomainWithoutBundleSource) {
  v1::ProxyConfig config = ControlPlaneConfig();
  config.mutable_identity()->mutable_control_plane()->clear_federated_trust_domains();
  v1::OutboundListener* out = config.add_outbound();
  out->set_original_destination(true);
  out->add_destinations()->mutable_expected_peer()->set_spiffe_id("spiffe://b.test/db");
  out->mutable_expected_peer()->set_trust_domain("a.test");
  const std::string fix =
      ", so no peer of it can be verified; list it in "
      "identity.control_plane.federated_trust_domains (palisade-control must federate with it)";
  EXPECT_THAT(
      Problems(config),
      ElementsAre(
          "inbound[0].authorization.spiffe_ids[0]: no trust bundle source for \"partner.example\"" +
              fix,
          "inbound[0].authorization.path_prefixes[0]: no trust bundle source for "
          "\"partner.example\"" +
              fix,
          "outbound[0].expected_peer.trust_domain: no trust bundle source for \"partner.example\"" +
              fix,
          "outbound[1].destinations[0].expected_peer.spiffe_id: no trust bundle source for "
          "\"b.test\"" +
              fix));
}

TEST(TrustDomainCheckTest, TellsFileIdentityToAddABundleFile) {
  v1::ProxyConfig config = FileConfig();
  config.mutable_identity()->mutable_files()->mutable_trust_bundles()->RemoveLast();
  EXPECT_THAT(Problems(config),
              ElementsAre("outbound[1].expected_peer.spiffe_id: no trust bundle source for "
                          "\"partner.example\", so no peer of it can be verified; add an "
                          "identity.files.trust_bundles entry with its roots"));
}

TEST(TrustDomainCheckTest, TakesTheOwnDomainFromTheServerIdWithoutAnIdentitySpiffeId) {
  v1::ProxyConfig config = ControlPlaneConfig();
  config.mutable_identity()->clear_spiffe_id();
  EXPECT_THAT(Problems(config), IsEmpty());
  EXPECT_THAT(TrustBundleSources(config.identity()),
              Optional(ElementsAre("a.test", "partner.example")));
}

TEST(TrustDomainCheckTest, IgnoresGatewayListenersAndMalformedValues) {
  v1::ProxyConfig config = ControlPlaneConfig();
  config.mutable_inbound(0)->mutable_gateway();
  config.mutable_inbound(0)->mutable_authorization()->add_trust_domains("elsewhere.test");
  config.mutable_outbound(0)->mutable_expected_peer()->set_path_prefix("spiffe://Bad/");
  EXPECT_THAT(Problems(config), IsEmpty());
  // An own domain that cannot be told: the validator reports the ID itself.
  config = ControlPlaneConfig();
  config.mutable_identity()->set_spiffe_id("nope");
  config.mutable_outbound(0)->mutable_expected_peer()->set_trust_domain("elsewhere.test");
  EXPECT_THAT(Problems(config), IsEmpty());
}

TEST(TrustDomainCheckTest, RefusesABadRepeatedOrOwnFederatedDomain) {
  v1::ProxyConfig config = ControlPlaneConfig();
  v1::ControlPlaneIdentitySource* cp = config.mutable_identity()->mutable_control_plane();
  cp->add_federated_trust_domains("Partner.Example");
  cp->add_federated_trust_domains("partner.example");
  cp->add_federated_trust_domains("a.test");
  const std::vector<std::string> problems = Problems(config);
  ASSERT_EQ(problems.size(), 3u);
  EXPECT_THAT(problems[0], ::testing::StartsWith("identity.control_plane.federated_trust_domains[1]"
                                                 ": invalid trust domain \"Partner.Example\""));
  EXPECT_EQ(problems[1],
            "identity.control_plane.federated_trust_domains[2]: \"partner.example\" is already "
            "listed at identity.control_plane.federated_trust_domains[0]");
  EXPECT_EQ(problems[2],
            "identity.control_plane.federated_trust_domains[3]: \"a.test\" is this proxy's own "
            "trust domain, whose bundle palisade-control always sends; list only foreign ones");
}

}  // namespace
}  // namespace palisade::config
