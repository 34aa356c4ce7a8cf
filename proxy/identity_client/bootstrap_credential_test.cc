#include "proxy/identity_client/bootstrap_credential.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/escaping.h"
#include "tests/util/process.h"
#include "tests/util/status_matchers.h"
#include "tests/util/test_pki.h"

namespace palisade::identity_client {
namespace {

using ::palisade::testing::IsOk;
using ::palisade::testing::StatusIs;
using ::palisade::testing::TestPki;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Jwt(const std::string& claims) {
  return absl::WebSafeBase64Escape(R"({"alg":"RS256"})") + "." + absl::WebSafeBase64Escape(claims) +
         ".c2lnbmF0dXJl";
}

class BootstrapCredentialTest : public ::testing::Test {
 protected:
  std::string dir_ = palisade::testing::MakeTempDir("bootstrap");
  config::v1::ControlPlaneIdentitySource config_;
};

TEST_F(BootstrapCredentialTest, LoadsTheBootstrapBundleForTheControlPlanesTrustDomain) {
  TestPki pki({.trust_domain = "mesh.example"});
  config_.set_server_spiffe_id("spiffe://mesh.example/palisade/control");
  config_.set_bootstrap_bundle_file(dir_ + "/bundle.pem");
  ASSERT_TRUE(palisade::testing::WriteFile(config_.bootstrap_bundle_file(), pki.BundlePem()));
  auto bundles = LoadBootstrapBundle(config_);
  ASSERT_THAT(bundles, IsOk());
  EXPECT_EQ(bundles->TrustDomains(), std::vector<std::string>{"mesh.example"});
  EXPECT_EQ(bundles->root_count(), 1u);
}

TEST_F(BootstrapCredentialTest, NamesAMissingOrBrokenBootstrapBundle) {
  config_.set_server_spiffe_id("spiffe://mesh.example/palisade/control");
  config_.set_bootstrap_bundle_file(dir_ + "/absent.pem");
  EXPECT_THAT(LoadBootstrapBundle(config_),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(dir_ + "/absent.pem")));
  config_.set_bootstrap_bundle_file(dir_ + "/broken.pem");
  ASSERT_TRUE(palisade::testing::WriteFile(config_.bootstrap_bundle_file(), "not PEM"));
  EXPECT_THAT(LoadBootstrapBundle(config_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bootstrap_bundle_file")));
}

TEST_F(BootstrapCredentialTest, ReadsTheJoinTokenWithoutItsNewline) {
  config_.set_join_token_file(dir_ + "/join_token");
  ASSERT_TRUE(palisade::testing::WriteFile(config_.join_token_file(), "tok-123\n"));
  control::v1::Hello hello;
  ASSERT_THAT(AddBootstrapCredential(config_, &hello), IsOk());
  EXPECT_EQ(hello.join_token(), "tok-123");
}

TEST_F(BootstrapCredentialTest, ReadsTheServiceAccountTokenAgainOnEveryUse) {
  config_.set_service_account_token_file(dir_ + "/token");
  ASSERT_TRUE(palisade::testing::WriteFile(config_.service_account_token_file(), "first"));
  control::v1::Hello hello;
  ASSERT_THAT(AddBootstrapCredential(config_, &hello), IsOk());
  EXPECT_EQ(hello.service_account_token(), "first");
  ASSERT_TRUE(palisade::testing::WriteFile(config_.service_account_token_file(), "rotated"));
  ASSERT_THAT(AddBootstrapCredential(config_, &hello), IsOk());
  EXPECT_EQ(hello.service_account_token(), "rotated");
}

TEST_F(BootstrapCredentialTest, NamesAMissingTokenFileButNeverTheToken) {
  config_.set_join_token_file(dir_ + "/absent");
  control::v1::Hello hello;
  EXPECT_THAT(AddBootstrapCredential(config_, &hello),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("join_token_file"), HasSubstr(dir_ + "/absent"))));
  config_.set_join_token_file(dir_ + "/blank");
  ASSERT_TRUE(palisade::testing::WriteFile(config_.join_token_file(), " \n"));
  EXPECT_THAT(AddBootstrapCredential(config_, &hello),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is empty")));
}

TEST_F(BootstrapCredentialTest, MapsAServiceAccountSubjectToItsSpiffeId) {
  auto id = SpiffeIdFromServiceAccountToken(
      Jwt(R"({"sub":"system:serviceaccount:shop:cart","aud":["palisade"]})"), "cluster.local");
  ASSERT_THAT(id, IsOk());
  EXPECT_EQ(id->ToString(), "spiffe://cluster.local/ns/shop/sa/cart");
}

TEST_F(BootstrapCredentialTest, RefusesTokensThatNameNoServiceAccount) {
  EXPECT_THAT(SpiffeIdFromServiceAccountToken("not-a-jwt", "td"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a JWT")));
  EXPECT_THAT(SpiffeIdFromServiceAccountToken(Jwt(R"({"iss":"x"})"), "td"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no sub")));
  EXPECT_THAT(SpiffeIdFromServiceAccountToken(Jwt(R"({"sub":"system:node:n1"})"), "td"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("system:node:n1")));
  EXPECT_THAT(
      SpiffeIdFromServiceAccountToken(Jwt(R"({"sub":"system:serviceaccount:a:b:c"})"), "td"),
      Not(IsOk()));
}

TEST_F(BootstrapCredentialTest, PrefersTheConfiguredSpiffeId) {
  config_.set_join_token_file(dir_ + "/join_token");
  auto id = ResolveWorkloadId("spiffe://cluster.local/ns/shop/sa/cart", config_);
  ASSERT_THAT(id, IsOk());
  EXPECT_EQ(id->ToString(), "spiffe://cluster.local/ns/shop/sa/cart");
}

TEST_F(BootstrapCredentialTest, DerivesTheIdentityFromTheServiceAccountTokenInTheServersDomain) {
  config_.set_server_spiffe_id("spiffe://mesh.example/palisade/control");
  config_.set_service_account_token_file(dir_ + "/token");
  ASSERT_TRUE(palisade::testing::WriteFile(config_.service_account_token_file(),
                                           Jwt(R"({"sub":"system:serviceaccount:ns1:api"})")));
  auto id = ResolveWorkloadId("", config_);
  ASSERT_THAT(id, IsOk());
  EXPECT_EQ(id->ToString(), "spiffe://mesh.example/ns/ns1/sa/api");
}

TEST_F(BootstrapCredentialTest, NeedsAConfiguredSpiffeIdWithAJoinToken) {
  config_.set_join_token_file(dir_ + "/join_token");
  EXPECT_THAT(ResolveWorkloadId("", config_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("identity.spiffe_id")));
}

}  // namespace
}  // namespace palisade::identity_client
