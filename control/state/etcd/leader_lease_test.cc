// LeaderLease and the client's lease RPCs against a real three-member etcd on
// loopback: exactly one of two contenders leads; a leader killed with -9
// (a separate process) is replaced within its TTL and a few seconds; a
// resigning leader is replaced at once; one etcd member killed changes no
// leader; a revoked lease takes its keys along; a stalled leader's fenced
// write is refused once another leads.
#include "control/state/etcd/leader_lease.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/util/etcd_cluster.h"
#include "tests/util/loopback.h"
#include "tests/util/process.h"
#include "tests/util/status_matchers.h"

namespace palisade::control::state::etcd {
namespace {

using ::testing::HasSubstr;

constexpr char kKey[] = "/lease-test/leader";
constexpr char kContender[] = "control/state/etcd/leader_lease_contender";

class LeaderLeaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = palisade::testing::MakeTempDir("leader-lease");
    ASSERT_OK_AND_ASSIGN(cluster_, palisade::testing::EtcdCluster::Start(dir_ + "/etcd", 3));
  }
  std::unique_ptr<EtcdClient> Client() {
    auto endpoints = ParseEndpoints(cluster_->Endpoints());
    EXPECT_OK(endpoints.status());
    auto client = EtcdClient::Create({*endpoints, absl::Seconds(2)});
    EXPECT_OK(client.status());
    return *std::move(client);
  }
  std::unique_ptr<LeaderLease> Contender(const std::string& id, absl::Duration ttl) {
    auto lease = std::make_unique<LeaderLease>(
        Client(), LeaderLeaseOptions{kKey, id, ttl, absl::ZeroDuration()});
    lease->Start();
    return lease;
  }
  // The replica id the key holds ("" when absent or unreadable).
  std::string KeyHolder() {
    auto kv = Client()->Get(kKey);
    return kv.ok() && kv->has_value() ? (*kv)->value : "";
  }

  std::string dir_;
  std::unique_ptr<palisade::testing::EtcdCluster> cluster_;
};

TEST_F(LeaderLeaseTest, LeaseRpcsGrantKeepAliveAttachAndRevoke) {
  auto client = Client();
  ASSERT_OK_AND_ASSIGN(int64_t lease, client->GrantLease(absl::Seconds(30)));
  EXPECT_NE(lease, 0);
  EXPECT_OK(client->KeepAliveOnce(lease));
  ASSERT_OK_AND_ASSIGN(bool created, client->PutWithLease("/l/a", "one", lease, true));
  EXPECT_TRUE(created);
  ASSERT_OK_AND_ASSIGN(bool again, client->PutWithLease("/l/a", "two", lease, true));
  EXPECT_FALSE(again);  // only if absent
  ASSERT_OK_AND_ASSIGN(bool overwritten, client->PutWithLease("/l/a", "three", lease, false));
  EXPECT_TRUE(overwritten);
  ASSERT_OK_AND_ASSIGN(std::optional<KeyValue> a, client->Get("/l/a"));
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->value, "three");
  EXPECT_EQ(a->lease, lease);
  ASSERT_OK(client->RevokeLease(lease));
  EXPECT_FALSE(client->Get("/l/a")->has_value());  // went with its lease
  const absl::Status kept = client->KeepAliveOnce(lease);
  EXPECT_TRUE(absl::IsNotFound(kept)) << kept;
  EXPECT_FALSE(client->PutWithLease("/l/b", "x", lease, false).ok());
  EXPECT_FALSE(client->Get("/l/b")->has_value());
}

TEST_F(LeaderLeaseTest, TwoContendersExactlyOneLeads) {
  auto a = Contender("a", absl::Seconds(3));
  auto b = Contender("b", absl::Seconds(3));
  ASSERT_TRUE(palisade::testing::WaitFor([&] { return a->IsLeader() || b->IsLeader(); },
                                         absl::Seconds(20)));
  // Sampled for a few seconds (a TTL and more): never both, never a change.
  const bool a_leads = a->IsLeader();
  const std::string leader = a_leads ? "a" : "b";
  EXPECT_TRUE(palisade::testing::WaitFor(
      [&] { return a->Leader() == leader && b->Leader() == leader; }, absl::Seconds(10)));
  const absl::Time end = absl::Now() + absl::Seconds(4);
  int samples = 0;
  while (absl::Now() < end) {
    ASSERT_FALSE(a->IsLeader() && b->IsLeader()) << "two leaders";
    EXPECT_EQ(a->IsLeader(), a_leads);
    EXPECT_EQ(b->IsLeader(), !a_leads);
    ++samples;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_GT(samples, 10);
  EXPECT_EQ(KeyHolder(), leader);
  EXPECT_EQ((a_leads ? a : b)->changes(), 1u);
  EXPECT_EQ((a_leads ? b : a)->changes(), 0u);
}

TEST_F(LeaderLeaseTest, KilledLeaderProcessIsReplacedWithinTtl) {
  const absl::Duration ttl = absl::Seconds(3);
  ASSERT_OK_AND_ASSIGN(auto first, palisade::testing::Process::Start(
                                       {kContender, "--endpoints=" + cluster_->Endpoints(),
                                        absl::StrCat("--key=", kKey), "--id=first", "--ttl=3s"},
                                       dir_ + "/first.log"));
  ASSERT_TRUE(palisade::testing::WaitFor([&] { return KeyHolder() == "first"; }, absl::Seconds(20)))
      << first->Output();
  auto second = Contender("second", ttl);
  // It sees who leads, and does not lead itself.
  ASSERT_TRUE(
      palisade::testing::WaitFor([&] { return second->Leader() == "first"; }, absl::Seconds(10)));
  EXPECT_FALSE(second->IsLeader());
  first->Kill();
  const absl::Time killed = absl::Now();
  ASSERT_TRUE(
      palisade::testing::WaitFor([&] { return second->IsLeader(); }, ttl + absl::Seconds(8)));
  const absl::Duration took = absl::Now() - killed;
  std::cout << "leader replaced " << absl::FormatDuration(took) << " after kill -9 (TTL "
            << absl::FormatDuration(ttl) << ")\n";
  EXPECT_EQ(KeyHolder(), "second");
  EXPECT_EQ(second->Leader(), "second");
}

TEST_F(LeaderLeaseTest, ResigningLeaderIsReplacedBeforeItsTtl) {
  const absl::Duration ttl = absl::Seconds(30);
  auto a = Contender("a", ttl);
  ASSERT_TRUE(palisade::testing::WaitFor([&] { return a->IsLeader(); }, absl::Seconds(20)));
  auto b = Contender("b", ttl);
  ASSERT_TRUE(palisade::testing::WaitFor([&] { return b->Leader() == "a"; }, absl::Seconds(10)));
  const absl::Time resigned = absl::Now();
  a->Stop(/*resign=*/true);
  EXPECT_FALSE(a->IsLeader());
  ASSERT_TRUE(palisade::testing::WaitFor([&] { return b->IsLeader(); }, absl::Seconds(10)));
  EXPECT_LT(absl::Now() - resigned, ttl);
}

TEST_F(LeaderLeaseTest, OneEtcdMemberKilledLeavesTheLeaderInPlace) {
  const absl::Duration ttl = absl::Seconds(3);
  auto a = Contender("a", ttl);
  ASSERT_TRUE(palisade::testing::WaitFor([&] { return a->IsLeader(); }, absl::Seconds(20)));
  auto b = Contender("b", ttl);
  ASSERT_TRUE(palisade::testing::WaitFor([&] { return b->Leader() == "a"; }, absl::Seconds(10)));
  // Member 0 is the one both clients talk to first.
  cluster_->KillMember(0);
  const absl::Time end = absl::Now() + 3 * ttl;
  while (absl::Now() < end) {
    ASSERT_TRUE(a->IsLeader()) << "leadership lost with one member of three down";
    ASSERT_FALSE(b->IsLeader());
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(a->changes(), 1u);
  EXPECT_EQ(b->changes(), 0u);
  EXPECT_EQ(KeyHolder(), "a");
}

// A leader that decided to write, then stalled past its lease (as a
// SIGSTOPped process: no keep-alives) while another took over: the write it
// then makes is refused when fenced on the leader key, and applied without
// the fence (what a compare on the record's own revision alone allows).
TEST_F(LeaderLeaseTest, FencedWriteOfAStalledLeaderIsRefusedAfterAnotherTookOver) {
  const absl::Duration ttl = absl::Seconds(2);
  auto a = Contender("a", ttl);
  ASSERT_TRUE(palisade::testing::WaitFor([&] { return a->IsLeader(); }, absl::Seconds(20)));
  auto client = Client();
  const std::string record = "/lease-test/rollover";
  int64_t revision = 0;
  ASSERT_OK_AND_ASSIGN(bool first, client->PutIf(record, "propagating", 0, &revision));
  ASSERT_TRUE(first);
  const std::optional<Fence> fence = a->LeaderFence();
  ASSERT_TRUE(fence.has_value());
  // While it leads, a fenced write goes through.
  ASSERT_OK_AND_ASSIGN(bool fenced_ok,
                       client->PutIf(record, "propagating-2", revision, &revision, &*fence));
  EXPECT_TRUE(fenced_ok);
  a->Stop(/*resign=*/false);  // stalled: its lease runs out, nobody resigns
  auto b = Contender("b", ttl);
  ASSERT_TRUE(palisade::testing::WaitFor([&] { return b->IsLeader(); }, ttl + absl::Seconds(10)));
  ASSERT_OK_AND_ASSIGN(bool stale,
                       client->PutIf(record, "rekeying (a)", revision, nullptr, &*fence));
  EXPECT_FALSE(stale) << "a stalled leader's fenced write was applied after another took over";
  EXPECT_EQ((*client->Get(record))->value, "propagating-2");
  ASSERT_OK_AND_ASSIGN(bool unfenced, client->PutIf(record, "rekeying (a)", revision));
  EXPECT_TRUE(unfenced) << "without the fence the stale write goes through";
  // The new leader's own fence works.
  ASSERT_OK_AND_ASSIGN(std::optional<KeyValue> now, client->Get(record));
  const std::optional<Fence> b_fence = b->LeaderFence();
  ASSERT_TRUE(b_fence.has_value());
  ASSERT_OK_AND_ASSIGN(
      bool by_b, client->PutIf(record, "rekeying (b)", now->mod_revision, nullptr, &*b_fence));
  EXPECT_TRUE(by_b);
}

TEST(LeaderLeaseFlagsTest, RefusesBadTtlAndReplicaIdNamingTheFlag) {
  EXPECT_OK(CheckLeaderLeaseTtl(absl::Seconds(10)));
  for (absl::Duration bad : {absl::Seconds(1), absl::Milliseconds(2500), absl::Minutes(6)}) {
    const absl::Status s = CheckLeaderLeaseTtl(bad);
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_THAT(std::string(s.message()), HasSubstr("--leader_lease_ttl"));
  }
  EXPECT_OK(CheckReplicaId("control-0.example_1"));
  for (const std::string& bad : {std::string(""), std::string("a/b"), std::string(200, 'x')}) {
    const absl::Status s = CheckReplicaId(bad);
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_THAT(std::string(s.message()), HasSubstr("--replica_id"));
  }
  EXPECT_OK(CheckReplicaId(DefaultReplicaId()));
}

}  // namespace
}  // namespace palisade::control::state::etcd
