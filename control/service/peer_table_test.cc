#include "control/service/peer_table.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace palisade::control::service {
namespace {

TEST(PeerTableTest, KeyMatchesTheFormGrpcReportsForTheForwardersAddress) {
  EXPECT_EQ(PeerTable::KeyFor(*net::SocketAddress::Parse("127.0.0.1:40001")),
            "ipv4:127.0.0.1:40001");
  EXPECT_EQ(PeerTable::KeyFor(*net::SocketAddress::Parse("[::1]:40001")), "ipv6:[::1]:40001");
}

TEST(PeerTableTest, UnknownPeerIsNotAuthenticated) {
  PeerTable table;
  EXPECT_FALSE(table.Lookup("ipv4:127.0.0.1:1234").has_value());
  EXPECT_FALSE(table.Lookup("unix:").has_value());
  EXPECT_FALSE(table.Lookup("").has_value());
}

TEST(PeerTableTest, FindsAVerifiedPeerByExactKeyOnly) {
  PeerTable table;
  PeerIdentity peer;
  peer.spiffe_id = *identity::SpiffeId::Parse("spiffe://td/ns/a/sa/b");
  peer.serial = "0a";
  table.Add("ipv4:127.0.0.1:40001", peer);
  ASSERT_TRUE(table.Lookup("ipv4:127.0.0.1:40001").has_value());
  EXPECT_EQ(table.Lookup("ipv4:127.0.0.1:40001")->spiffe_id->ToString(), "spiffe://td/ns/a/sa/b");
  // Same port from another loopback address is somebody else.
  EXPECT_FALSE(table.Lookup("ipv4:127.0.0.2:40001").has_value());
  EXPECT_FALSE(table.Lookup("ipv4:127.0.0.1:4000").has_value());
}

TEST(PeerTableTest, RemovedPeerIsForgotten) {
  PeerTable table;
  table.Add("ipv4:127.0.0.1:1", PeerIdentity{});
  table.Remove("ipv4:127.0.0.1:1");
  EXPECT_FALSE(table.Lookup("ipv4:127.0.0.1:1").has_value());
  EXPECT_EQ(table.size(), 0u);
}

TEST(PeerTableTest, ConcurrentAddsLookupsAndRemovesAreSafe) {
  PeerTable table;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&table, t] {
      for (int i = 0; i < 2000; ++i) {
        const std::string key = "ipv4:127.0.0.1:" + std::to_string(t * 10000 + i);
        table.Add(key, PeerIdentity{});
        EXPECT_TRUE(table.Lookup(key).has_value());
        table.Remove(key);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(table.size(), 0u);
}

}  // namespace
}  // namespace palisade::control::service
