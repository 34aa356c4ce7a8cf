#include "identity/spiffe_id.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash_testing.h"
#include "tests/util/status_matchers.h"

namespace palisade {
namespace identity {
namespace {

using ::palisade::testing::StatusIs;
using ::testing::HasSubstr;

void ExpectRejected(absl::string_view uri, absl::string_view rule) {
  EXPECT_THAT(SpiffeId::Parse(uri),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(std::string(rule))))
      << uri;
}

TEST(SpiffeIdTest, ParsesTrustDomainAndPath) {
  ASSERT_OK_AND_ASSIGN(SpiffeId id, SpiffeId::Parse("spiffe://cluster.local/ns/shop/sa/cart"));
  EXPECT_EQ(id.trust_domain(), "cluster.local");
  EXPECT_EQ(id.path(), "/ns/shop/sa/cart");
  EXPECT_EQ(id.ToString(), "spiffe://cluster.local/ns/shop/sa/cart");
}

TEST(SpiffeIdTest, ParsesTrustDomainOnlyIdWithEmptyPath) {
  ASSERT_OK_AND_ASSIGN(SpiffeId id, SpiffeId::Parse("spiffe://example.org"));
  EXPECT_EQ(id.trust_domain(), "example.org");
  EXPECT_EQ(id.path(), "");
  EXPECT_EQ(id.ToString(), "spiffe://example.org");
}

TEST(SpiffeIdTest, AcceptsEveryAllowedCharacter) {
  EXPECT_OK(SpiffeId::Parse("spiffe://abc-xyz_0.9/ABCxyz019._-/a.b/..c/d.."));
  EXPECT_OK(SpiffeId::Parse("spiffe://" + std::string("abcdefghijklmnopqrstuvwxyz0123456789.-_") +
                            "/ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_"));
}

TEST(SpiffeIdTest, RejectsEmptyInput) { ExpectRejected("", "is empty"); }

TEST(SpiffeIdTest, RejectsOtherSchemes) {
  ExpectRejected("https://example.org/a", "scheme must be \"spiffe://\"");
  ExpectRejected("spiffe:/example.org/a", "scheme must be \"spiffe://\"");
  ExpectRejected("example.org/a", "scheme must be \"spiffe://\"");
  ExpectRejected("spiffe//example.org", "scheme must be \"spiffe://\"");
}

TEST(SpiffeIdTest, RejectsUppercaseScheme) {
  ExpectRejected("SPIFFE://example.org/a", "scheme must be lowercase");
  ExpectRejected("Spiffe://example.org/a", "scheme must be lowercase");
}

TEST(SpiffeIdTest, RejectsMissingTrustDomain) {
  ExpectRejected("spiffe://", "trust domain is missing");
  ExpectRejected("spiffe:///a/b", "trust domain is missing");
}

TEST(SpiffeIdTest, RejectsUppercaseTrustDomain) {
  ExpectRejected("spiffe://Example.org/a", "trust domain must be lowercase");
}

TEST(SpiffeIdTest, RejectsInvalidTrustDomainCharacters) {
  ExpectRejected("spiffe://exa mple.org", "trust domain contains byte 0x20");
  ExpectRejected("spiffe://exa+mple.org", "trust domain contains '+'");
  ExpectRejected("spiffe://ex\xc3\xa4mple.org", "trust domain contains byte 0xc3");
  ExpectRejected(absl::string_view("spiffe://ex\0ample", 17), "trust domain contains byte 0x00");
}

TEST(SpiffeIdTest, RejectsPort) { ExpectRejected("spiffe://example.org:8443/a", "port"); }

TEST(SpiffeIdTest, RejectsUserinfo) {
  ExpectRejected("spiffe://user@example.org/a", "userinfo");
  ExpectRejected("spiffe://user:pass@example.org/a", "userinfo");
}

TEST(SpiffeIdTest, RejectsQuery) {
  ExpectRejected("spiffe://example.org/a?x=1", "query is not allowed");
  ExpectRejected("spiffe://example.org?x=1", "query is not allowed");
}

TEST(SpiffeIdTest, RejectsFragment) {
  ExpectRejected("spiffe://example.org/a#frag", "fragment is not allowed");
}

TEST(SpiffeIdTest, RejectsPercentEncoding) {
  ExpectRejected("spiffe://example.org/a%20b", "percent-encoding is not allowed");
  ExpectRejected("spiffe://ex%41mple.org/a", "percent-encoding is not allowed");
}

TEST(SpiffeIdTest, RejectsEmptyPathSegment) {
  ExpectRejected("spiffe://example.org//a", "empty segment");
  ExpectRejected("spiffe://example.org/a//b", "empty segment");
}

TEST(SpiffeIdTest, RejectsDotSegments) {
  ExpectRejected("spiffe://example.org/./a", "'.' or '..' segment");
  ExpectRejected("spiffe://example.org/a/..", "'.' or '..' segment");
  ExpectRejected("spiffe://example.org/a/../b", "'.' or '..' segment");
}

TEST(SpiffeIdTest, RejectsTrailingSlash) {
  ExpectRejected("spiffe://example.org/", "trailing slash");
  ExpectRejected("spiffe://example.org/a/", "trailing slash");
}

TEST(SpiffeIdTest, RejectsInvalidPathCharacters) {
  ExpectRejected("spiffe://example.org/a b", "path segment contains byte 0x20");
  ExpectRejected("spiffe://example.org/a:b", "path segment contains ':'");
  ExpectRejected("spiffe://example.org/a~b", "path segment contains '~'");
  ExpectRejected("spiffe://example.org/caf\xc3\xa9", "path segment contains byte 0xc3");
}

TEST(SpiffeIdTest, AcceptsTrustDomainOfExactly255Bytes) {
  EXPECT_OK(SpiffeId::Parse("spiffe://" + std::string(255, 'a') + "/x"));
}

TEST(SpiffeIdTest, RejectsTrustDomainLongerThan255Bytes) {
  ExpectRejected("spiffe://" + std::string(256, 'a') + "/x", "longer than 255 bytes");
}

TEST(SpiffeIdTest, AcceptsIdOfExactly2048Bytes) {
  const std::string prefix = "spiffe://example.org/";
  EXPECT_OK(SpiffeId::Parse(prefix + std::string(2048 - prefix.size(), 'p')));
}

TEST(SpiffeIdTest, RejectsIdLongerThan2048Bytes) {
  const std::string prefix = "spiffe://example.org/";
  ExpectRejected(prefix + std::string(2049 - prefix.size(), 'p'), "longer than 2048 bytes");
}

TEST(SpiffeIdTest, ErrorMessageQuotesTheInputButTruncatesLongOnes) {
  EXPECT_THAT(SpiffeId::Parse("spiffe://td/a//b"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "invalid SPIFFE ID \"spiffe://td/a//b\": path contains an empty segment"));
  absl::Status long_error = SpiffeId::Parse(std::string(5000, 'x')).status();
  EXPECT_LT(long_error.message().size(), 300u);
  EXPECT_THAT(long_error, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("5000 bytes")));
}

TEST(SpiffeIdTest, FromPartsBuildsTheSameIdAsParse) {
  ASSERT_OK_AND_ASSIGN(SpiffeId from_parts, SpiffeId::FromParts("example.org", "/a/b"));
  ASSERT_OK_AND_ASSIGN(SpiffeId parsed, SpiffeId::Parse("spiffe://example.org/a/b"));
  EXPECT_EQ(from_parts, parsed);
  ASSERT_OK_AND_ASSIGN(SpiffeId domain_only, SpiffeId::FromParts("example.org", ""));
  EXPECT_EQ(domain_only.ToString(), "spiffe://example.org");
}

TEST(SpiffeIdTest, FromPartsValidatesBothParts) {
  EXPECT_THAT(SpiffeId::FromParts("Example.org", "/a"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("lowercase")));
  EXPECT_THAT(SpiffeId::FromParts("example.org", "a/b"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("start with '/'")));
  EXPECT_THAT(SpiffeId::FromParts("example.org", "/a/"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("trailing slash")));
  EXPECT_THAT(SpiffeId::FromParts("example.org", "/a?b"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("query")));
  EXPECT_THAT(SpiffeId::FromParts("example.org", "/" + std::string(2048, 'a')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("longer than 2048")));
}

TEST(SpiffeIdTest, ValidateTrustDomainNamesTheRule) {
  EXPECT_OK(ValidateTrustDomain("cluster.local"));
  EXPECT_THAT(ValidateTrustDomain(""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("missing")));
  EXPECT_THAT(ValidateTrustDomain("spiffe://cluster.local"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("without \"spiffe://\"")));
  EXPECT_THAT(ValidateTrustDomain("td:80"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("port")));
  EXPECT_THAT(ValidateTrustDomain("td/a"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'/'")));
}

TEST(SpiffeIdTest, OnlyAnIdWithAPathNamesAWorkload) {
  ASSERT_OK_AND_ASSIGN(SpiffeId workload, SpiffeId::Parse("spiffe://a.org/x"));
  ASSERT_OK_AND_ASSIGN(SpiffeId domain, SpiffeId::Parse("spiffe://a.org"));
  EXPECT_OK(ValidateWorkloadId(workload));
  EXPECT_THAT(ValidateWorkloadId(domain),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("SPIFFE ID spiffe://a.org has no path (X509-SVID section 3")));
}

TEST(SpiffeIdTest, ComparesAndHashesByValue) {
  ASSERT_OK_AND_ASSIGN(SpiffeId a, SpiffeId::Parse("spiffe://a.org/x"));
  ASSERT_OK_AND_ASSIGN(SpiffeId a2, SpiffeId::Parse("spiffe://a.org/x"));
  ASSERT_OK_AND_ASSIGN(SpiffeId b, SpiffeId::Parse("spiffe://a.org/y"));
  ASSERT_OK_AND_ASSIGN(SpiffeId c, SpiffeId::Parse("spiffe://b.org/a"));
  ASSERT_OK_AND_ASSIGN(SpiffeId d, SpiffeId::Parse("spiffe://a.org"));
  EXPECT_EQ(a, a2);
  EXPECT_NE(a, b);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_LT(d, a);
  EXPECT_FALSE(a < a2);
  EXPECT_TRUE(absl::VerifyTypeImplementsAbslHashCorrectly({a, b, c, d}));
  absl::flat_hash_set<SpiffeId> set = {a, a2, b};
  EXPECT_EQ(set.size(), 2u);
  std::map<SpiffeId, int> ordered = {{c, 1}, {a, 2}};
  EXPECT_EQ(ordered.begin()->first, a);
}

TEST(SpiffeIdTest, DistinguishesTrustDomainFromPathWhenHashing) {
  // "a.org" + "/b" and "a.org/b" + "" must not collide into the same key.
  ASSERT_OK_AND_ASSIGN(SpiffeId x, SpiffeId::FromParts("a.org", "/b"));
  ASSERT_OK_AND_ASSIGN(SpiffeId y, SpiffeId::FromParts("a.org", ""));
  EXPECT_NE(x, y);
  EXPECT_TRUE(x.IsMemberOf("a.org"));
  EXPECT_FALSE(x.IsMemberOf("b.org"));
}

TEST(SpiffeIdForServiceAccountTest, MapsAKubernetesSubjectIntoTheTrustDomain) {
  auto id = SpiffeIdForServiceAccount("cluster.local", "system:serviceaccount:shop:cart");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->ToString(), "spiffe://cluster.local/ns/shop/sa/cart");
}

TEST(SpiffeIdForServiceAccountTest, RefusesOtherSubjectsSayingWhatIsExpected) {
  for (const char* subject :
       {"system:serviceaccount:shop", "system:node:worker-1", "system:serviceaccount::cart",
        "user:alice:x:y", "system:serviceaccount:shop:cart:extra"}) {
    auto id = SpiffeIdForServiceAccount("cluster.local", subject);
    ASSERT_FALSE(id.ok()) << subject;
    EXPECT_NE(id.status().message().find("system:serviceaccount:NAMESPACE:NAME"),
              std::string::npos);
  }
  // A namespace that is not a valid path segment fails the SPIFFE rules.
  EXPECT_FALSE(SpiffeIdForServiceAccount("cluster.local", "system:serviceaccount:a/b:c").ok());
}

}  // namespace
}  // namespace identity
}  // namespace palisade
