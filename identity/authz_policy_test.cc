#include "identity/authz_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "tests/util/status_matchers.h"

namespace palisade {
namespace identity {
namespace {

using ::palisade::testing::StatusIs;
using ::testing::HasSubstr;

SpiffeId Id(absl::string_view uri) { return *SpiffeId::Parse(uri); }

TEST(AuthorizationPolicyTest, EmptyPolicyDeniesEveryone) {
  AuthorizationPolicy by_default;
  EXPECT_TRUE(by_default.empty());
  EXPECT_FALSE(by_default.Allows(Id("spiffe://td/a")));
  ASSERT_OK_AND_ASSIGN(AuthorizationPolicy created, AuthorizationPolicy::Create({}, {}, {}));
  EXPECT_TRUE(created.empty());
  EXPECT_FALSE(created.Allows(Id("spiffe://td")));
}

TEST(AuthorizationPolicyTest, AllowsExactIdsOnly) {
  ASSERT_OK_AND_ASSIGN(AuthorizationPolicy policy,
                       AuthorizationPolicy::Create({"spiffe://td/ns/shop/sa/cart"}, {}, {}));
  EXPECT_FALSE(policy.empty());
  EXPECT_TRUE(policy.Allows(Id("spiffe://td/ns/shop/sa/cart")));
  EXPECT_FALSE(policy.Allows(Id("spiffe://td/ns/shop/sa/cart/x")));
  EXPECT_FALSE(policy.Allows(Id("spiffe://td/ns/shop/sa/car")));
  EXPECT_FALSE(policy.Allows(Id("spiffe://other/ns/shop/sa/cart")));
}

TEST(AuthorizationPolicyTest, AllowsWholeTrustDomainsGivenEitherWay) {
  ASSERT_OK_AND_ASSIGN(
      AuthorizationPolicy policy,
      AuthorizationPolicy::Create({}, {"shop.example", "spiffe://bank.example"}, {}));
  EXPECT_TRUE(policy.Allows(Id("spiffe://shop.example/anything/at/all")));
  EXPECT_TRUE(policy.Allows(Id("spiffe://bank.example/teller")));
  EXPECT_FALSE(policy.Allows(Id("spiffe://shop.example.evil/a")));
  EXPECT_FALSE(policy.Allows(Id("spiffe://example/a")));
}

TEST(AuthorizationPolicyTest, PrefixMatchesOnlyAtASegmentBoundary) {
  for (const char* prefix : {"spiffe://td/ns/shop", "spiffe://td/ns/shop/"}) {
    ASSERT_OK_AND_ASSIGN(AuthorizationPolicy policy, AuthorizationPolicy::Create({}, {}, {prefix}));
    EXPECT_TRUE(policy.Allows(Id("spiffe://td/ns/shop/sa/x"))) << prefix;
    EXPECT_TRUE(policy.Allows(Id("spiffe://td/ns/shop/a"))) << prefix;
    EXPECT_TRUE(policy.Allows(Id("spiffe://td/ns/shop"))) << prefix;
    EXPECT_FALSE(policy.Allows(Id("spiffe://td/ns/shopping/sa/x"))) << prefix;
    EXPECT_FALSE(policy.Allows(Id("spiffe://td/ns/shop-admin"))) << prefix;
    EXPECT_FALSE(policy.Allows(Id("spiffe://td/ns"))) << prefix;
    EXPECT_FALSE(policy.Allows(Id("spiffe://td"))) << prefix;
    EXPECT_FALSE(policy.Allows(Id("spiffe://other/ns/shop/sa/x"))) << prefix;
    EXPECT_FALSE(policy.Allows(Id("spiffe://td/NS/shop/sa/x"))) << prefix;
  }
}

TEST(AuthorizationPolicyTest, PrefixOfTheDomainRootAllowsTheWholeDomain) {
  ASSERT_OK_AND_ASSIGN(AuthorizationPolicy policy,
                       AuthorizationPolicy::Create({}, {}, {"spiffe://td/"}));
  EXPECT_TRUE(policy.Allows(Id("spiffe://td/a/b")));
  EXPECT_FALSE(policy.Allows(Id("spiffe://tdx/a")));
}

TEST(AuthorizationPolicyTest, NeverAllowsATrustDomainsOwnIdAsAWorkload) {
  // X509-SVID §3: a leaf's ID has a path; the bare domain ID names no workload.
  ASSERT_OK_AND_ASSIGN(AuthorizationPolicy policy,
                       AuthorizationPolicy::Create({}, {"td"}, {"spiffe://td/"}));
  EXPECT_TRUE(policy.Allows(Id("spiffe://td/a")));
  EXPECT_FALSE(policy.Allows(Id("spiffe://td")));
}

TEST(AuthorizationPolicyTest, RefusesAnExactIdWithoutAPath) {
  EXPECT_THAT(
      AuthorizationPolicy::Create({"spiffe://td/a", "spiffe://td"}, {}, {}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("spiffe_ids[1] \"spiffe://td\": a workload's ID has a path "
                         "(X509-SVID section 3); use trust_domains to allow a whole domain")));
}

TEST(AuthorizationPolicyTest, CombinesAllThreeKindsOfEntry) {
  ASSERT_OK_AND_ASSIGN(
      AuthorizationPolicy policy,
      AuthorizationPolicy::Create({"spiffe://a.example/x"}, {"b.example"},
                                  {"spiffe://c.example/ns/one", "spiffe://c.example/ns/two/"}));
  EXPECT_TRUE(policy.Allows(Id("spiffe://a.example/x")));
  EXPECT_FALSE(policy.Allows(Id("spiffe://a.example/y")));
  EXPECT_TRUE(policy.Allows(Id("spiffe://b.example/y")));
  EXPECT_TRUE(policy.Allows(Id("spiffe://c.example/ns/one/z")));
  EXPECT_TRUE(policy.Allows(Id("spiffe://c.example/ns/two/z")));
  EXPECT_FALSE(policy.Allows(Id("spiffe://c.example/ns/three/z")));
}

TEST(AuthorizationPolicyTest, RefusesInvalidIdNamingTheEntry) {
  EXPECT_THAT(AuthorizationPolicy::Create({"spiffe://td/a", "spiffe://td/a//b"}, {}, {}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("spiffe_ids[1] \"spiffe://td/a//b\": invalid SPIFFE ID")));
  EXPECT_THAT(AuthorizationPolicy::Create({"td/a"}, {}, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("spiffe_ids[0]")));
}

TEST(AuthorizationPolicyTest, RefusesInvalidTrustDomainNamingTheEntry) {
  EXPECT_THAT(
      AuthorizationPolicy::Create({}, {"Shop.example"}, {}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("trust_domains[0] \"Shop.example\"")));
  EXPECT_THAT(AuthorizationPolicy::Create({}, {"ok.example", "spiffe://td/ns"}, {}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("trust_domains[1] \"spiffe://td/ns\": a trust domain entry "
                                 "has no path")));
  EXPECT_THAT(AuthorizationPolicy::Create({}, {""}, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("trust_domains[0]")));
}

TEST(AuthorizationPolicyTest, RefusesInvalidPrefixNamingTheEntry) {
  EXPECT_THAT(AuthorizationPolicy::Create({}, {}, {"spiffe://td/ns//"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("path_prefixes[0] \"spiffe://td/ns//\": invalid SPIFFE ID")));
  EXPECT_THAT(AuthorizationPolicy::Create({}, {}, {"spiffe://td/ns/sh*"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'*'")));
  EXPECT_THAT(AuthorizationPolicy::Create({}, {}, {"spiffe://"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("trust domain is missing")));
  EXPECT_THAT(AuthorizationPolicy::Create({}, {}, {"spiffe:///"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("path_prefixes[0]")));
}

}  // namespace
}  // namespace identity
}  // namespace palisade
