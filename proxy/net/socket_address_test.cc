#include "proxy/net/socket_address.h"

#include <gtest/gtest.h>

namespace palisade::net {
namespace {

TEST(SocketAddressTest, ParsesIpv4AndIpv6WithPorts) {
  auto v4 = SocketAddress::Parse("127.0.0.1:8080");
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(v4->port(), 8080);
  EXPECT_TRUE(v4->IsLoopback());
  EXPECT_EQ(v4->ToString(), "127.0.0.1:8080");

  auto v6 = SocketAddress::Parse("[::1]:0");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->port(), 0);
  EXPECT_TRUE(v6->IsLoopback());
  EXPECT_EQ(v6->ToString(), "[::1]:0");
}

TEST(SocketAddressTest, TellsLoopbackFromOtherAddresses) {
  EXPECT_TRUE(SocketAddress::Parse("127.9.9.9:1")->IsLoopback());
  EXPECT_FALSE(SocketAddress::Parse("10.0.0.1:1")->IsLoopback());
  EXPECT_FALSE(SocketAddress::Parse("0.0.0.0:1")->IsLoopback());
  EXPECT_TRUE(SocketAddress::Parse("0.0.0.0:1")->IsUnspecified());
  EXPECT_TRUE(SocketAddress::Parse("[::]:1")->IsUnspecified());
}

TEST(SocketAddressTest, RefusesMalformedAddressesSayingWhy) {
  EXPECT_NE(SocketAddress::Parse("localhost:80").status().message().find("not an IPv4"),
            std::string::npos);
  EXPECT_NE(SocketAddress::Parse("1.2.3.4").status().message().find("host:port"),
            std::string::npos);
  EXPECT_NE(SocketAddress::Parse("1.2.3.4:70000").status().message().find("0 to 65535"),
            std::string::npos);
  EXPECT_NE(SocketAddress::Parse("1.2.3.4:-1").status().message().find("0 to 65535"),
            std::string::npos);
  EXPECT_NE(SocketAddress::Parse("::1:80").status().message().find("[address]:port"),
            std::string::npos);
  EXPECT_FALSE(SocketAddress::Parse("[::1]80").ok());
  EXPECT_FALSE(SocketAddress::Parse("[zz::1]:80").ok());
}

TEST(SocketAddressTest, ComparesFamilyAddressAndPort) {
  EXPECT_EQ(*SocketAddress::Parse("127.0.0.1:80"), *SocketAddress::Parse("127.0.0.1:80"));
  EXPECT_NE(*SocketAddress::Parse("127.0.0.1:80"), *SocketAddress::Parse("127.0.0.1:81"));
  EXPECT_NE(*SocketAddress::Parse("127.0.0.1:80"), *SocketAddress::Parse("127.0.0.2:80"));
  EXPECT_EQ(*SocketAddress::Parse("[::1]:80"), *SocketAddress::Parse("[0::1]:80"));
  EXPECT_NE(*SocketAddress::Parse("[::1]:80"), *SocketAddress::Parse("127.0.0.1:80"));
}

TEST(HostPortTest, AcceptsNamesAndLiteralsButNotPortZero) {
  auto named = HostPort::Parse("payments.shop.svc:15006");
  ASSERT_TRUE(named.ok());
  EXPECT_EQ(named->host, "payments.shop.svc");
  EXPECT_EQ(named->port, 15006);
  auto v6 = HostPort::Parse("[::1]:443");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->ToString(), "[::1]:443");
  EXPECT_FALSE(HostPort::Parse("svc:0").ok());
  EXPECT_FALSE(HostPort::Parse(":80").ok());
}

}  // namespace
}  // namespace palisade::net
