#include "runtime/http/https_url.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/status_matchers.h"

namespace palisade::http {
namespace {

using ::palisade::testing::StatusIs;
using ::testing::HasSubstr;

TEST(HttpsUrlTest, TakesAnHttpsUrlApart) {
  absl::StatusOr<HttpsUrl> url = ParseHttpsUrl("https://Kubernetes.default.svc/openid/v1/jwks");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->host, "kubernetes.default.svc");
  EXPECT_EQ(url->port, 443);
  EXPECT_EQ(url->target, "/openid/v1/jwks");
  EXPECT_EQ(url->Origin(), "https://kubernetes.default.svc");

  url = ParseHttpsUrl("https://[::1]:6443?x=1");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->target, "/?x=1");
  EXPECT_EQ(url->Authority(), "[::1]:6443");
}

TEST(HttpsUrlTest, RefusesPlainHttpAndOddUrls) {
  EXPECT_THAT(ParseHttpsUrl("http://kubernetes.default.svc"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("only https is accepted")));
  EXPECT_THAT(ParseHttpsUrl("kubernetes.default.svc"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a URL")));
  EXPECT_THAT(ParseHttpsUrl("https://user:pw@host/"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("user info")));
  EXPECT_THAT(ParseHttpsUrl("https://host/#x"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("fragment")));
  EXPECT_THAT(ParseHttpsUrl(""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a URL")));
}

}  // namespace
}  // namespace palisade::http
