#include "control/auth/base64url.h"

#include "gtest/gtest.h"
#include "tests/util/status_matchers.h"

namespace palisade::control::auth {
namespace {

using ::palisade::testing::StatusIs;
using ::testing::HasSubstr;

TEST(Base64UrlTest, RoundTripsEveryLengthAndByte) {
  std::string data;
  for (int i = 0; i < 300; ++i) {
    data.push_back(static_cast<char>(i * 37));
    ASSERT_EQ(*Base64UrlDecode(Base64UrlEncode(data)), data) << i;
  }
}

TEST(Base64UrlTest, MatchesRfc4648Vectors) {
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_EQ(*Base64UrlDecode("-_8"), "\xfb\xff");
}

TEST(Base64UrlTest, RefusesPaddingAndStandardAlphabet) {
  EXPECT_THAT(Base64UrlDecode("Zg=="),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("character 2")));
  EXPECT_THAT(Base64UrlDecode("+/8"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Base64UrlDecode("Zm 9v"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(Base64UrlTest, RefusesImpossibleLengthAndLeftoverBits) {
  EXPECT_THAT(Base64UrlDecode("Zm9vY"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("length")));
  // "Zh" decodes to 'f' but with non-zero padding bits: a second encoding of "f".
  EXPECT_THAT(Base64UrlDecode("Zh"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("non-zero")));
}

}  // namespace
}  // namespace palisade::control::auth
