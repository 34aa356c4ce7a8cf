#include "runtime/net/pending_connections.h"

#include <optional>

#include "gtest/gtest.h"

namespace palisade::net {
namespace {

SocketAddress From(const char* text) { return *SocketAddress::Parse(text); }

TEST(PendingConnectionsTest, AdmitsUnderBothBoundsWithoutEvicting) {
  PendingConnections pending({/*max_pending=*/3, /*max_pending_per_source=*/2});
  EXPECT_EQ(pending.Admit(1, From("127.0.0.2:1000")), std::nullopt);
  EXPECT_EQ(pending.Admit(2, From("127.0.0.2:1001")), std::nullopt);
  EXPECT_EQ(pending.Admit(3, From("127.0.0.3:1000")), std::nullopt);
  EXPECT_EQ(pending.size(), 3u);
  EXPECT_EQ(pending.from(From("127.0.0.2:9")), 2u);  // the port does not matter
}

TEST(PendingConnectionsTest, ASourceAtItsShareEvictsItsOwnOldest) {
  PendingConnections pending({/*max_pending=*/10, /*max_pending_per_source=*/2});
  pending.Admit(1, From("127.0.0.9:1"));  // someone else's, older
  pending.Admit(2, From("127.0.0.66:1"));
  pending.Admit(3, From("127.0.0.66:2"));
  EXPECT_EQ(pending.Admit(4, From("127.0.0.66:3")), 2u);
  pending.Finish(2);
  EXPECT_EQ(pending.from(From("127.0.0.66:0")), 2u);
  EXPECT_EQ(pending.from(From("127.0.0.9:0")), 1u);
}

TEST(PendingConnectionsTest, AFullTableEvictsTheOldest) {
  PendingConnections pending({/*max_pending=*/2, /*max_pending_per_source=*/10});
  pending.Admit(1, From("127.0.0.2:1"));
  pending.Admit(2, From("127.0.0.3:1"));
  EXPECT_EQ(pending.Admit(3, From("127.0.0.4:1")), 1u);
  pending.Finish(1);
  EXPECT_EQ(pending.Admit(4, From("127.0.0.5:1")), 2u);
}

TEST(PendingConnectionsTest, FinishedConnectionsFreeTheirSlots) {
  PendingConnections pending({/*max_pending=*/2, /*max_pending_per_source=*/1});
  pending.Admit(1, From("[::1]:1"));
  pending.Finish(1);
  pending.Finish(1);   // twice: no effect
  pending.Finish(42);  // never admitted: no effect
  EXPECT_EQ(pending.size(), 0u);
  EXPECT_EQ(pending.Admit(2, From("[::1]:2")), std::nullopt);
  EXPECT_EQ(pending.from(From("[::1]:0")), 1u);
}

TEST(PendingConnectionsTest, ASilentFloodChurnsWhileRealClientsFinish) {
  // An attacker opens connections without end; a real client's handshake
  // finishes between two of the attacker's connections and is never evicted.
  PendingConnections pending({/*max_pending=*/8, /*max_pending_per_source=*/4});
  PendingConnections::Id next = 1;
  int client_evicted = 0;
  for (int round = 0; round < 100; ++round) {
    for (int i = 0; i < 5; ++i) {
      std::optional<PendingConnections::Id> evict = pending.Admit(next++, From("127.0.0.66:1"));
      if (evict.has_value()) pending.Finish(*evict);
    }
    const PendingConnections::Id client = next++;
    std::optional<PendingConnections::Id> evict = pending.Admit(client, From("127.0.0.7:1"));
    if (evict == client) ++client_evicted;
    if (evict.has_value()) pending.Finish(*evict);
    pending.Finish(client);  // its handshake completes
    ASSERT_LE(pending.size(), 8u);
    ASSERT_LE(pending.from(From("127.0.0.66:1")), 4u);
  }
  EXPECT_EQ(client_evicted, 0);
}

}  // namespace
}  // namespace palisade::net
