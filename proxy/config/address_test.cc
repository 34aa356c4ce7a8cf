#include "proxy/config/address.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/util/status_matchers.h"

namespace palisade::config {
namespace {

using ::palisade::testing::StatusIs;
using ::testing::HasSubstr;

IpPort MustParse(absl::string_view text) {
  absl::StatusOr<IpPort> parsed = IpPort::Parse(text);
  EXPECT_TRUE(parsed.ok()) << text << ": " << parsed.status();
  return parsed.ok() ? *parsed : *IpPort::Parse("0.0.0.0:0");
}

TEST(IpPortTest, ParsesIpv4AndBracketedIpv6) {
  EXPECT_EQ(MustParse("10.0.0.1:80").ToString(), "10.0.0.1:80");
  EXPECT_EQ(MustParse("[::1]:15000").ToString(), "[::1]:15000");
  EXPECT_EQ(MustParse("[0:0::1]:1").ToString(), "[::1]:1");
  EXPECT_TRUE(MustParse("[::1]:1").is_ipv6());
  EXPECT_EQ(MustParse("0.0.0.0:0").port(), 0);
  EXPECT_EQ(MustParse("1.2.3.4:65535").port(), 65535);
}

TEST(IpPortTest, RefusesWhatIsNotIpColonPort) {
  const auto invalid = absl::StatusCode::kInvalidArgument;
  EXPECT_THAT(IpPort::Parse("127.0.0.1"), StatusIs(invalid, HasSubstr("has no port")));
  EXPECT_THAT(IpPort::Parse("localhost:80"), StatusIs(invalid, HasSubstr("not an IP address")));
  EXPECT_THAT(IpPort::Parse("1.2.3:80"), StatusIs(invalid, HasSubstr("not an IP address")));
  EXPECT_THAT(IpPort::Parse("01.2.3.4:80"), StatusIs(invalid, HasSubstr("not an IP address")));
  EXPECT_THAT(IpPort::Parse("::1:80"), StatusIs(invalid, HasSubstr("in brackets")));
  EXPECT_THAT(IpPort::Parse("[::1:80"), StatusIs(invalid, HasSubstr("no closing ']'")));
  EXPECT_THAT(IpPort::Parse("[::1]"), StatusIs(invalid, HasSubstr("has no port")));
  EXPECT_THAT(IpPort::Parse("[1.2.3.4]:80"), StatusIs(invalid, HasSubstr("not an IPv6")));
  EXPECT_THAT(IpPort::Parse("[fe80::1%eth0]:80"), StatusIs(invalid, HasSubstr("not an IPv6")));
  EXPECT_THAT(IpPort::Parse("1.2.3.4:65536"),
              StatusIs(invalid, HasSubstr("port \"65536\" is not a number from 0 to 65535")));
  EXPECT_THAT(IpPort::Parse("1.2.3.4:-1"), StatusIs(invalid, HasSubstr("is not a number")));
  EXPECT_THAT(IpPort::Parse("1.2.3.4:+80"), StatusIs(invalid, HasSubstr("is not a number")));
  EXPECT_THAT(IpPort::Parse("1.2.3.4:"), StatusIs(invalid, HasSubstr("is not a number")));
  EXPECT_THAT(IpPort::Parse(":80"), StatusIs(invalid, HasSubstr("no host")));
  EXPECT_THAT(IpPort::Parse(""), StatusIs(invalid, HasSubstr("is empty")));
}

TEST(IpPortTest, KnowsLoopbackAndWildcardAddresses) {
  EXPECT_TRUE(MustParse("127.0.0.1:1").IsLoopback());
  EXPECT_TRUE(MustParse("127.8.9.10:1").IsLoopback());
  EXPECT_TRUE(MustParse("[::1]:1").IsLoopback());
  EXPECT_TRUE(MustParse("[::ffff:127.0.0.1]:1").IsLoopback());
  EXPECT_FALSE(MustParse("0.0.0.0:1").IsLoopback());
  EXPECT_FALSE(MustParse("10.0.0.1:1").IsLoopback());
  EXPECT_FALSE(MustParse("[::]:1").IsLoopback());
  EXPECT_TRUE(MustParse("0.0.0.0:1").IsWildcard());
  EXPECT_TRUE(MustParse("[::]:1").IsWildcard());
  EXPECT_FALSE(MustParse("[::1]:1").IsWildcard());
}

TEST(IpPortTest, OverlapsOnTheSamePortAndACoveringAddress) {
  EXPECT_TRUE(MustParse("127.0.0.1:80").Overlaps(MustParse("127.0.0.1:80")));
  EXPECT_TRUE(MustParse("[::1]:80").Overlaps(MustParse("[0::1]:80")));
  EXPECT_TRUE(MustParse("0.0.0.0:80").Overlaps(MustParse("127.0.0.1:80")));
  EXPECT_TRUE(MustParse("127.0.0.1:80").Overlaps(MustParse("0.0.0.0:80")));
  EXPECT_FALSE(MustParse("[::]:80").Overlaps(MustParse("10.0.0.1:80")));  // V6ONLY
  EXPECT_FALSE(MustParse("[::]:80").Overlaps(MustParse("0.0.0.0:80")));
  EXPECT_TRUE(MustParse("[::]:80").Overlaps(MustParse("[fd00::1]:80")));
  EXPECT_FALSE(MustParse("0.0.0.0:80").Overlaps(MustParse("[::1]:80")));
  EXPECT_FALSE(MustParse("127.0.0.1:80").Overlaps(MustParse("127.0.0.2:80")));
  EXPECT_FALSE(MustParse("127.0.0.1:80").Overlaps(MustParse("127.0.0.1:81")));
  EXPECT_FALSE(MustParse("127.0.0.1:0").Overlaps(MustParse("127.0.0.1:0")));
}

TEST(HostPortTest, ParsesNamesAndAddresses) {
  absl::StatusOr<HostPort> parsed = ParseHostPort("payments.shop.svc.cluster.local:15006");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->host, "payments.shop.svc.cluster.local");
  EXPECT_EQ(parsed->port, 15006);
  EXPECT_TRUE(ParseHostPort("10.1.2.3:1").ok());
  EXPECT_TRUE(ParseHostPort("localhost:1").ok());
  EXPECT_TRUE(ParseHostPort("palisade-control:15012").ok());
  EXPECT_TRUE(ParseHostPort("fqdn.example.:443").ok());
  parsed = ParseHostPort("[2001:db8::1]:443");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->host, "2001:db8::1");
}

TEST(HostPortTest, RefusesMalformedHostsAndPortZero) {
  const auto invalid = absl::StatusCode::kInvalidArgument;
  EXPECT_THAT(ParseHostPort("payments"), StatusIs(invalid, HasSubstr("has no port")));
  EXPECT_THAT(ParseHostPort("payments:0"), StatusIs(invalid, HasSubstr("port 0 cannot")));
  EXPECT_THAT(ParseHostPort("bad_-.name..x:1"), StatusIs(invalid, HasSubstr("not a host name")));
  EXPECT_THAT(ParseHostPort("-lead.example:1"), StatusIs(invalid, HasSubstr("not a host name")));
  EXPECT_THAT(ParseHostPort("a b:1"), StatusIs(invalid, HasSubstr("not a host name")));
  EXPECT_THAT(ParseHostPort("http://x:1"), StatusIs(invalid, HasSubstr("without a URL scheme")));
  EXPECT_THAT(ParseHostPort("1.2.3:1"), StatusIs(invalid, HasSubstr("not an IPv4 address")));
  EXPECT_THAT(ParseHostPort("[zz]:1"), StatusIs(invalid, HasSubstr("not an IPv6 address")));
  EXPECT_THAT(ParseHostPort(std::string(64, 'a') + ".example:1"),
              StatusIs(invalid, HasSubstr("not a host name")));
}

}  // namespace
}  // namespace palisade::config
