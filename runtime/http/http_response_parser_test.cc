#include "runtime/http/http_response_parser.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/status_matchers.h"

namespace palisade::http {
namespace {

using ::palisade::testing::StatusIs;
using ::testing::HasSubstr;

TEST(HttpResponseParserTest, ReadsStatusHeadersAndBodyInPieces) {
  HttpResponseParser parser(1024);
  const std::string text =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}";
  for (char c : text) ASSERT_TRUE(parser.Feed(std::string(1, c)).ok());
  ASSERT_TRUE(parser.complete());
  EXPECT_EQ(parser.status(), 200);
  EXPECT_EQ(parser.body(), "{\"a\":1}");
  ASSERT_EQ(parser.headers().size(), 2u);
  EXPECT_EQ(parser.headers()[0].first, "content-type");
  EXPECT_EQ(parser.headers()[0].second, "application/json");
}

TEST(HttpResponseParserTest, DecodesChunkedBodies) {
  HttpResponseParser parser(1024);
  ASSERT_TRUE(parser
                  .Feed("HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde"
                        "\r\n0\r\n\r\n")
                  .ok());
  ASSERT_TRUE(parser.complete());
  EXPECT_EQ(parser.status(), 500);
  EXPECT_EQ(parser.body(), "abcde");
}

TEST(HttpResponseParserTest, EndsABodyWithoutLengthAtEof) {
  HttpResponseParser parser(1024);
  ASSERT_TRUE(parser.Feed("HTTP/1.1 200 OK\r\n\r\nhello").ok());
  EXPECT_FALSE(parser.complete());
  ASSERT_TRUE(parser.FinishAtEof().ok());
  EXPECT_TRUE(parser.complete());
  EXPECT_EQ(parser.body(), "hello");
}

TEST(HttpResponseParserTest, RefusesABodyOverTheCap) {
  HttpResponseParser parser(4);
  EXPECT_THAT(parser.Feed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("larger than 4 bytes")));
  EXPECT_FALSE(parser.complete());
}

TEST(HttpResponseParserTest, RefusesGarbageAndATruncatedResponse) {
  HttpResponseParser garbage(1024);
  EXPECT_THAT(garbage.Feed("SSH-2.0-OpenSSH\r\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("malformed HTTP response")));
  HttpResponseParser truncated(1024);
  ASSERT_TRUE(truncated.Feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc").ok());
  EXPECT_THAT(truncated.FinishAtEof(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("malformed")));
}

}  // namespace
}  // namespace palisade::http
