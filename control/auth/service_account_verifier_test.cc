#include "control/auth/service_account_verifier.h"

#include "absl/time/clock.h"
#include "control/auth/jwks.h"
#include "control/auth/refusal.h"
#include "gtest/gtest.h"
#include "tests/util/status_matchers.h"
#include "tests/util/test_jwt.h"

namespace palisade::control::auth {
namespace {

using ::palisade::testing::StatusIs;
using ::palisade::testing::TestJwtIssuer;
using ::testing::HasSubstr;

constexpr char kIssuer[] = "https://kubernetes.default.svc.cluster.local";
constexpr char kAudience[] = "palisade";

class ServiceAccountVerifierTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { issuer_ = new TestJwtIssuer(); }
  static void TearDownTestSuite() { delete issuer_; }

  void SetUp() override {
    auto jwks = Jwks::Parse(issuer_->JwksJson());
    ASSERT_OK(jwks.status());
    verifier_ = std::make_unique<ServiceAccountVerifier>(
        *jwks,
        ServiceAccountVerifier::Options{"cluster.local", kIssuer, kAudience, absl::Seconds(30)});
  }

  nlohmann::json Claims() const {
    return TestJwtIssuer::Claims(kIssuer, kAudience, "shop", "cart", now_);
  }

  // The refusal reason of verifying `token`, or "ok".
  std::string ReasonFor(const std::string& token) const {
    absl::StatusOr<identity::SpiffeId> id = verifier_->Verify(token, now_);
    if (id.ok()) return "ok";
    EXPECT_EQ(id.status().code(), absl::StatusCode::kUnauthenticated) << id.status();
    return RefusalReason(id.status());
  }

  static TestJwtIssuer* issuer_;
  absl::Time now_ = absl::Now();
  std::unique_ptr<ServiceAccountVerifier> verifier_;
};

TestJwtIssuer* ServiceAccountVerifierTest::issuer_ = nullptr;

TEST_F(ServiceAccountVerifierTest, AcceptsRs256TokenAndMapsSubjectToSpiffeId) {
  ASSERT_OK_AND_ASSIGN(identity::SpiffeId id,
                       verifier_->Verify(issuer_->Sign("RS256", Claims()), now_));
  EXPECT_EQ(id.ToString(), "spiffe://cluster.local/ns/shop/sa/cart");
}

TEST_F(ServiceAccountVerifierTest, AcceptsEs256Token) {
  ASSERT_OK_AND_ASSIGN(identity::SpiffeId id,
                       verifier_->Verify(issuer_->Sign("ES256", Claims()), now_));
  EXPECT_EQ(id.ToString(), "spiffe://cluster.local/ns/shop/sa/cart");
}

TEST_F(ServiceAccountVerifierTest, AcceptsAudienceGivenAsAString) {
  nlohmann::json claims = Claims();
  claims["aud"] = kAudience;
  EXPECT_EQ(ReasonFor(issuer_->Sign("ES256", claims)), "ok");
}

TEST_F(ServiceAccountVerifierTest, RefusesATamperedPayload) {
  const std::string token = issuer_->Sign("RS256", Claims());
  nlohmann::json other = Claims();
  other["sub"] = "system:serviceaccount:kube-system:admin";
  const size_t dot1 = token.find('.'), dot2 = token.rfind('.');
  const std::string forged =
      token.substr(0, dot1 + 1) + palisade::testing::Base64Url(other.dump()) + token.substr(dot2);
  EXPECT_EQ(ReasonFor(forged), "token_bad_signature");
}

TEST_F(ServiceAccountVerifierTest, RefusesATokenSignedByAnotherKey) {
  TestJwtIssuer stranger;
  EXPECT_EQ(ReasonFor(stranger.Sign("RS256", Claims())), "token_bad_signature");
  EXPECT_EQ(ReasonFor(stranger.Sign("ES256", Claims())), "token_bad_signature");
}

TEST_F(ServiceAccountVerifierTest, UsesAReplacedKeySetForLaterTokens) {
  TestJwtIssuer rotated;
  auto jwks = Jwks::Parse(rotated.JwksJson());
  ASSERT_OK(jwks.status());
  verifier_->ReplaceJwks(*jwks);
  EXPECT_EQ(verifier_->jwks(), *jwks);
  EXPECT_EQ(ReasonFor(rotated.Sign("RS256", Claims())), "ok");
  EXPECT_EQ(ReasonFor(rotated.Sign("ES256", Claims())), "ok");
  EXPECT_EQ(ReasonFor(issuer_->Sign("RS256", Claims())), "token_bad_signature");
}

TEST_F(ServiceAccountVerifierTest, RefusesAlgNoneAndHs256) {
  EXPECT_EQ(ReasonFor(issuer_->SignWithHeader({{"alg", "none"}}, Claims())),
            "token_unsupported_algorithm");
  EXPECT_EQ(ReasonFor(issuer_->SignWithHeader({{"alg", "HS256"}, {"kid", "rsa-1"}}, Claims())),
            "token_unsupported_algorithm");
}

TEST_F(ServiceAccountVerifierTest, RefusesAnUnknownKid) {
  EXPECT_EQ(ReasonFor(issuer_->SignWithHeader({{"alg", "RS256"}, {"kid", "gone"}}, Claims())),
            "token_unknown_key");
  // The algorithm must fit the key the kid names.
  EXPECT_EQ(ReasonFor(issuer_->SignWithHeader({{"alg", "ES256"}, {"kid", "rsa-1"}}, Claims())),
            "token_unknown_key");
}

TEST_F(ServiceAccountVerifierTest, RefusesTheWrongIssuer) {
  nlohmann::json claims = Claims();
  claims["iss"] = "https://evil.example";
  EXPECT_EQ(ReasonFor(issuer_->Sign("RS256", claims)), "token_wrong_issuer");
}

TEST_F(ServiceAccountVerifierTest, RefusesTheWrongAudience) {
  nlohmann::json claims = Claims();
  claims["aud"] = {"kubernetes", "vault"};
  EXPECT_EQ(ReasonFor(issuer_->Sign("RS256", claims)), "token_wrong_audience");
  claims.erase("aud");
  EXPECT_EQ(ReasonFor(issuer_->Sign("RS256", claims)), "token_wrong_audience");
}

TEST_F(ServiceAccountVerifierTest, RefusesAnExpiredTokenBeyondTheSkew) {
  nlohmann::json claims = Claims();
  claims["exp"] = absl::ToUnixSeconds(now_ - absl::Seconds(31));
  EXPECT_EQ(ReasonFor(issuer_->Sign("ES256", claims)), "token_expired");
  claims["exp"] = absl::ToUnixSeconds(now_ - absl::Seconds(10));  // within the skew
  EXPECT_EQ(ReasonFor(issuer_->Sign("ES256", claims)), "ok");
  claims.erase("exp");
  EXPECT_EQ(ReasonFor(issuer_->Sign("ES256", claims)), "token_malformed");
}

TEST_F(ServiceAccountVerifierTest, RefusesATokenNotYetValidBeyondTheSkew) {
  nlohmann::json claims = Claims();
  claims["nbf"] = absl::ToUnixSeconds(now_ + absl::Minutes(2));
  EXPECT_EQ(ReasonFor(issuer_->Sign("RS256", claims)), "token_not_yet_valid");
  claims["nbf"] = absl::ToUnixSeconds(now_ + absl::Seconds(20));
  EXPECT_EQ(ReasonFor(issuer_->Sign("RS256", claims)), "ok");
}

TEST_F(ServiceAccountVerifierTest, RefusesSubjectsThatAreNotServiceAccounts) {
  for (const char* sub : {"system:node:worker-1", "system:serviceaccount:shop",
                          "system:serviceaccount:shop:cart:extra", "system:serviceaccount::cart",
                          "system:serviceaccount:sh op:cart"}) {
    nlohmann::json claims = Claims();
    claims["sub"] = sub;
    EXPECT_EQ(ReasonFor(issuer_->Sign("RS256", claims)), "token_bad_subject") << sub;
  }
}

TEST_F(ServiceAccountVerifierTest, RefusesMalformedTokensWithoutCrashing) {
  for (const std::string& token :
       {std::string(""), std::string("a.b"), std::string("a.b.c.d"), std::string("!!.e30.e30"),
        palisade::testing::Base64Url("[]") + ".e30.e30", std::string(kMaxTokenSize + 1, 'a')}) {
    EXPECT_EQ(ReasonFor(token), "token_malformed") << token.substr(0, 40);
  }
  // A valid header and signature field but an ES256 signature of the wrong size.
  const std::string token = issuer_->Sign("ES256", Claims());
  EXPECT_EQ(ReasonFor(token.substr(0, token.rfind('.') + 1) + "AAAA"), "token_bad_signature");
}

TEST(JwksTest, RefusesWeakRsaUnknownCurvesAndPointsOffTheCurve) {
  EXPECT_THAT(Jwks::Parse(R"({"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("weaker than 2048")));
  EXPECT_THAT(Jwks::Parse(R"({"keys":[{"kty":"EC","crv":"P-384","x":"AA","y":"AA"}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("P-256")));
  const std::string zeros = palisade::testing::Base64Url(std::string(32, '\x01'));
  EXPECT_THAT(Jwks::Parse(R"({"keys":[{"kty":"EC","crv":"P-256","x":")" + zeros + R"(","y":")" +
                          zeros + R"("}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a point")));
  EXPECT_THAT(Jwks::Parse("{"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("JSON")));
  EXPECT_THAT(Jwks::Parse(R"({"keys":[{"kty":"oct","k":"AA"}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("keys[0]")));
}

TEST(JwksTest, SkipsEncryptionKeysAndFindsByKid) {
  TestJwtIssuer issuer;
  ASSERT_OK_AND_ASSIGN(auto jwks, Jwks::Parse(issuer.JwksJson()));
  EXPECT_EQ(jwks->size(), 2u);
  EXPECT_EQ(jwks->Find(JwkAlgorithm::kEs256, "ec-1").size(), 1u);
  EXPECT_EQ(jwks->Find(JwkAlgorithm::kRs256, "ec-1").size(), 0u);
  ASSERT_OK_AND_ASSIGN(auto enc_only, Jwks::Parse(R"({"keys":[{"kty":"oct","use":"enc"}]})"));
  EXPECT_EQ(enc_only->size(), 0u);
}

}  // namespace
}  // namespace palisade::control::auth
