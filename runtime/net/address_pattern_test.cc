#include "runtime/net/address_pattern.h"

#include <gtest/gtest.h>

namespace palisade::net {
namespace {

bool Match(const char* pattern, const char* address) {
  auto p = AddressPattern::Parse(pattern);
  EXPECT_TRUE(p.ok()) << p.status();
  return p->Matches(*SocketAddress::Parse(address));
}

TEST(AddressPatternTest, MatchesHostsNetworksAndPorts) {
  EXPECT_TRUE(Match("10.0.0.7", "10.0.0.7:8080"));
  EXPECT_FALSE(Match("10.0.0.7", "10.0.0.8:8080"));
  EXPECT_TRUE(Match("10.0.0.7:8080", "10.0.0.7:8080"));
  EXPECT_FALSE(Match("10.0.0.7:8080", "10.0.0.7:9090"));
  EXPECT_TRUE(Match("10.0.0.0/24", "10.0.0.200:1"));
  EXPECT_FALSE(Match("10.0.0.0/24", "10.0.1.1:1"));
  EXPECT_TRUE(Match("10.0.0.0/20:443", "10.0.15.1:443"));
  EXPECT_TRUE(Match("0.0.0.0/0", "192.168.1.1:5"));
  EXPECT_TRUE(Match("[fd00::/64]", "[fd00::abcd]:80"));
  EXPECT_FALSE(Match("[fd00::/64]", "[fd01::1]:80"));
  EXPECT_TRUE(Match("[fd00::7]:8080", "[fd00::7]:8080"));
  EXPECT_FALSE(Match("10.0.0.0/8", "[::ffff:10.0.0.1]:80"));  // families differ
}

TEST(AddressPatternTest, RefusesMalformedPatternsSayingWhy) {
  EXPECT_NE(AddressPattern::Parse("10.0.0.0/33").status().message().find("at most 32"),
            std::string::npos);
  EXPECT_NE(AddressPattern::Parse("fd00::1:80").status().message().find("brackets"),
            std::string::npos);
  EXPECT_NE(AddressPattern::Parse("host.local").status().message().find("not an IP"),
            std::string::npos);
  EXPECT_NE(AddressPattern::Parse("10.0.0.1:0").status().message().find("1 to 65535"),
            std::string::npos);
  EXPECT_FALSE(AddressPattern::Parse("[fd00::1").ok());
}

}  // namespace
}  // namespace palisade::net
