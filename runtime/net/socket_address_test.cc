#include "runtime/net/socket_address.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/util/status_matchers.h"

namespace palisade::net {
namespace {

using ::palisade::testing::StatusIs;
using ::testing::HasSubstr;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

SocketAddress MustParse(absl::string_view text) {
  absl::StatusOr<SocketAddress> parsed = SocketAddress::Parse(text);
  EXPECT_TRUE(parsed.ok()) << text << ": " << parsed.status();
  return parsed.ok() ? *parsed : SocketAddress();
}

TEST(SocketAddressTest, ParsesIpv4AndBracketedIpv6WithPorts) {
  const SocketAddress v4 = MustParse("127.0.0.1:8080");
  EXPECT_EQ(v4.family(), AF_INET);
  EXPECT_EQ(v4.port(), 8080);
  EXPECT_EQ(v4.ToString(), "127.0.0.1:8080");
  const SocketAddress v6 = MustParse("[::1]:0");
  EXPECT_EQ(v6.family(), AF_INET6);
  EXPECT_EQ(v6.port(), 0);
  EXPECT_EQ(v6.ToString(), "[::1]:0");
  EXPECT_EQ(v6.HostString(), "::1");
  EXPECT_EQ(MustParse("[0:0::1]:1").ToString(), "[::1]:1");
  EXPECT_EQ(MustParse("1.2.3.4:65535").port(), 65535);
}

TEST(SocketAddressTest, RefusesWhatIsNotIpColonPortSayingWhy) {
  EXPECT_THAT(SocketAddress::Parse("127.0.0.1"), StatusIs(kInvalid, HasSubstr("has no port")));
  EXPECT_THAT(SocketAddress::Parse("localhost:80"),
              StatusIs(kInvalid, HasSubstr("not an IP address")));
  EXPECT_THAT(SocketAddress::Parse("1.2.3:80"), StatusIs(kInvalid, HasSubstr("not an IP address")));
  EXPECT_THAT(SocketAddress::Parse("01.2.3.4:80"),
              StatusIs(kInvalid, HasSubstr("not an IP address")));
  EXPECT_THAT(SocketAddress::Parse("::1:80"), StatusIs(kInvalid, HasSubstr("in brackets")));
  EXPECT_THAT(SocketAddress::Parse("[::1:80"), StatusIs(kInvalid, HasSubstr("no closing ']'")));
  EXPECT_THAT(SocketAddress::Parse("[::1]"), StatusIs(kInvalid, HasSubstr("has no port")));
  EXPECT_THAT(SocketAddress::Parse("[::1]80"), StatusIs(kInvalid, HasSubstr("has no port")));
  EXPECT_THAT(SocketAddress::Parse("[1.2.3.4]:80"), StatusIs(kInvalid, HasSubstr("not an IPv6")));
  EXPECT_THAT(SocketAddress::Parse("[zz::1]:80"), StatusIs(kInvalid, HasSubstr("not an IPv6")));
  EXPECT_THAT(SocketAddress::Parse("[fe80::1%eth0]:80"),
              StatusIs(kInvalid, HasSubstr("not an IPv6")));
  EXPECT_THAT(SocketAddress::Parse("1.2.3.4:65536"),
              StatusIs(kInvalid, HasSubstr("port \"65536\" is not a number from 0 to 65535")));
  EXPECT_THAT(SocketAddress::Parse("1.2.3.4:-1"), StatusIs(kInvalid, HasSubstr("is not a number")));
  EXPECT_THAT(SocketAddress::Parse("1.2.3.4:+80"),
              StatusIs(kInvalid, HasSubstr("is not a number")));
  EXPECT_THAT(SocketAddress::Parse("1.2.3.4:"), StatusIs(kInvalid, HasSubstr("is not a number")));
  EXPECT_THAT(SocketAddress::Parse(":80"), StatusIs(kInvalid, HasSubstr("no host")));
  EXPECT_THAT(SocketAddress::Parse(""), StatusIs(kInvalid, HasSubstr("is empty")));
  EXPECT_THAT(SocketAddress::Parse("tcp://1.2.3.4:80"),
              StatusIs(kInvalid, HasSubstr("without a URL scheme")));
}

TEST(SocketAddressTest, KnowsLoopbackAndUnspecifiedAddresses) {
  EXPECT_TRUE(MustParse("127.0.0.1:1").IsLoopback());
  EXPECT_TRUE(MustParse("127.8.9.10:1").IsLoopback());
  EXPECT_TRUE(MustParse("[::1]:1").IsLoopback());
  EXPECT_TRUE(MustParse("[::ffff:127.0.0.1]:1").IsLoopback());
  EXPECT_FALSE(MustParse("0.0.0.0:1").IsLoopback());
  EXPECT_FALSE(MustParse("10.0.0.1:1").IsLoopback());
  EXPECT_FALSE(MustParse("[::]:1").IsLoopback());
  EXPECT_TRUE(MustParse("0.0.0.0:1").IsUnspecified());
  EXPECT_TRUE(MustParse("[::]:1").IsUnspecified());
  EXPECT_FALSE(MustParse("[::1]:1").IsUnspecified());
}

TEST(SocketAddressTest, ComparesFamilyAddressAndPort) {
  EXPECT_EQ(MustParse("127.0.0.1:80"), MustParse("127.0.0.1:80"));
  EXPECT_NE(MustParse("127.0.0.1:80"), MustParse("127.0.0.1:81"));
  EXPECT_NE(MustParse("127.0.0.1:80"), MustParse("127.0.0.2:80"));
  EXPECT_EQ(MustParse("[::1]:80"), MustParse("[0::1]:80"));
  EXPECT_NE(MustParse("[::1]:80"), MustParse("127.0.0.1:80"));
  EXPECT_EQ(MustParse("127.0.0.1:80").WithPort(81), MustParse("127.0.0.1:81"));
}

TEST(HostPortTest, ParsesNamesAndAddresses) {
  absl::StatusOr<HostPort> parsed = HostPort::Parse("payments.shop.svc.cluster.local:15006");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->host, "payments.shop.svc.cluster.local");
  EXPECT_EQ(parsed->port, 15006);
  EXPECT_TRUE(HostPort::Parse("10.1.2.3:1").ok());
  EXPECT_TRUE(HostPort::Parse("localhost:1").ok());
  EXPECT_TRUE(HostPort::Parse("palisade-control:15012").ok());
  EXPECT_TRUE(HostPort::Parse("fqdn.example.:443").ok());
  parsed = HostPort::Parse("[2001:db8::1]:443");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->host, "2001:db8::1");
  EXPECT_EQ(parsed->ToString(), "[2001:db8::1]:443");
}

TEST(HostPortTest, RefusesMalformedHostsAndPortZero) {
  EXPECT_THAT(HostPort::Parse("payments"), StatusIs(kInvalid, HasSubstr("has no port")));
  EXPECT_THAT(HostPort::Parse("payments:0"), StatusIs(kInvalid, HasSubstr("port 0 cannot")));
  EXPECT_THAT(HostPort::Parse(":80"), StatusIs(kInvalid, HasSubstr("no host")));
  EXPECT_THAT(HostPort::Parse("bad_-.name..x:1"), StatusIs(kInvalid, HasSubstr("not a host name")));
  EXPECT_THAT(HostPort::Parse("-lead.example:1"), StatusIs(kInvalid, HasSubstr("not a host name")));
  EXPECT_THAT(HostPort::Parse("a b:1"), StatusIs(kInvalid, HasSubstr("not a host name")));
  EXPECT_THAT(HostPort::Parse("http://x:1"), StatusIs(kInvalid, HasSubstr("without a URL scheme")));
  EXPECT_THAT(HostPort::Parse("1.2.3:1"), StatusIs(kInvalid, HasSubstr("not an IPv4 address")));
  EXPECT_THAT(HostPort::Parse("[zz]:1"), StatusIs(kInvalid, HasSubstr("not an IPv6 address")));
  EXPECT_THAT(HostPort::Parse(std::string(64, 'a') + ".example:1"),
              StatusIs(kInvalid, HasSubstr("not a host name")));
}

}  // namespace
}  // namespace palisade::net
