#include "control/federation/federation_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/util/process.h"
#include "tests/util/test_pki.h"

namespace palisade::control::federation {
namespace {

using ::testing::HasSubstr;

constexpr char kGood[] = R"(federation:
  - trust_domain: partner.test
    bundle_endpoint_url: https://127.0.0.1:8443/
    profile: https_spiffe
    endpoint_spiffe_id: spiffe://partner.test/palisade/control
    initial_bundle_file: /etc/partner.pem
  - trust_domain: web.test
    bundle_endpoint_url: https://bundles.web.test/bundle
    profile: https_web
    ca_file: /etc/web-ca.pem
)";

std::string ErrorOf(const std::string& yaml) {
  absl::StatusOr<std::vector<FederatedDomain>> parsed = ParseFederationConfig(yaml, "example.org");
  return parsed.ok() ? "ok" : std::string(parsed.status().message());
}

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  text.replace(text.find(from), from.size(), to);
  return text;
}

TEST(FederationConfigTest, ParsesBothProfiles) {
  absl::StatusOr<std::vector<FederatedDomain>> parsed = ParseFederationConfig(kGood, "example.org");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_EQ((*parsed)[0].trust_domain, "partner.test");
  EXPECT_EQ((*parsed)[0].profile, EndpointProfile::kHttpsSpiffe);
  EXPECT_EQ((*parsed)[0].endpoint_spiffe_id, "spiffe://partner.test/palisade/control");
  EXPECT_EQ((*parsed)[1].profile, EndpointProfile::kHttpsWeb);
  EXPECT_EQ((*parsed)[1].ca_file, "/etc/web-ca.pem");
}

TEST(FederationConfigTest, RefusesEachBadFieldNamingIt) {
  EXPECT_THAT(ErrorOf(Replace(kGood, "spiffe://partner.test/palisade/control",
                              "spiffe://other.test/palisade/control")),
              HasSubstr("federation[0].endpoint_spiffe_id: \"spiffe://other.test/palisade/"
                        "control\" is not in trust domain \"partner.test\""));
  EXPECT_THAT(ErrorOf(Replace(kGood, "https://127.0.0.1:8443/", "http://127.0.0.1:8443/")),
              HasSubstr("federation[0].bundle_endpoint_url: "));
  EXPECT_THAT(ErrorOf(Replace(kGood, "profile: https_web", "profile: ftp")),
              HasSubstr("federation[1].profile: \"ftp\" is not a profile"));
  EXPECT_THAT(ErrorOf(Replace(kGood, "    ca_file: /etc/web-ca.pem\n", "")),
              HasSubstr("federation[1].ca_file: is required for https_web"));
  EXPECT_THAT(ErrorOf(Replace(kGood, "    initial_bundle_file: /etc/partner.pem\n", "")),
              HasSubstr("federation[0].initial_bundle_file: is required for https_spiffe"));
  EXPECT_THAT(ErrorOf(Replace(kGood, "web.test", "partner.test")),
              HasSubstr("federation[1].trust_domain: \"partner.test\" is listed more than once"));
  EXPECT_THAT(ErrorOf(Replace(kGood, "web.test", "example.org")),
              HasSubstr("federation[1].trust_domain: \"example.org\" is this control plane's "
                        "own trust domain"));
  EXPECT_THAT(ErrorOf(Replace(kGood, "    profile: https_web", "    proflie: https_web")),
              HasSubstr("federation[1].proflie: unknown field"));
  EXPECT_THAT(ErrorOf("federation: {}"), HasSubstr("federation: must be a list"));
  EXPECT_THAT(ErrorOf("[1, 2"), HasSubstr("not YAML"));
}

TEST(FederationConfigTest, InitialBundleIsPemOrSpiffeJsonAndABadOneNamesTheFile) {
  const std::string dir = testing::MakeTempDir("federation-config");
  testing::TestPki partner(testing::TestPki::Options{.trust_domain = "partner.test"});
  FederatedDomain d;
  d.trust_domain = "partner.test";
  d.initial_bundle_file = dir + "/partner.pem";
  testing::WriteFileOrDie(d.initial_bundle_file, partner.BundlePem());
  absl::StatusOr<identity::SpiffeBundle> pem = LoadInitialBundle(d, 0);
  ASSERT_TRUE(pem.ok()) << pem.status();
  EXPECT_EQ(pem->x509_authorities.size(), 1u);
  EXPECT_FALSE(pem->sequence.has_value());

  identity::SpiffeBundle b;
  b.trust_domain = "partner.test";
  b.x509_authorities.push_back(bssl::UpRef(partner.root().cert));
  b.sequence = 7;
  testing::WriteFileOrDie(d.initial_bundle_file, identity::SerializeSpiffeBundle(b));
  absl::StatusOr<identity::SpiffeBundle> json = LoadInitialBundle(d, 0);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(json->sequence, 7u);

  testing::WriteFileOrDie(d.initial_bundle_file, "{\"keys\": 3}");
  absl::StatusOr<identity::SpiffeBundle> bad = LoadInitialBundle(d, 2);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(),
              HasSubstr("federation[2].initial_bundle_file: \"" + d.initial_bundle_file + "\": "));
}

}  // namespace
}  // namespace palisade::control::federation
