// EtcdClient against a real one-member etcd on loopback: compare-and-swap
// writes, prefix lists, a watch that sees a change, clear errors naming the
// endpoint and key, and a dead first endpoint that costs nothing; and against
// three members, writes that ride out the loss of the raft leader.
#include "control/state/etcd/etcd_client.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <optional>
#include <thread>

#include "absl/strings/str_split.h"
#include "tests/util/etcd_cluster.h"
#include "tests/util/loopback.h"
#include "tests/util/process.h"
#include "tests/util/status_matchers.h"

namespace palisade::control::state::etcd {
namespace {

using ::testing::HasSubstr;

class EtcdClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(cluster_, palisade::testing::EtcdCluster::Start(
                                       palisade::testing::MakeTempDir("etcd-client"), 1));
  }
  std::unique_ptr<EtcdClient> Client(std::vector<std::string> endpoints = {}) {
    if (endpoints.empty()) endpoints = {cluster_->Endpoints()};
    auto client = EtcdClient::Create({endpoints, absl::Seconds(2)});
    EXPECT_OK(client.status());
    return client.ok() ? *std::move(client) : nullptr;
  }
  std::unique_ptr<palisade::testing::EtcdCluster> cluster_;
};

TEST_F(EtcdClientTest, PutIfWritesOnlyOverTheRevisionItRead) {
  auto client = Client();
  ASSERT_OK_AND_ASSIGN(bool created, client->PutIf("/t/a", "one", 0));
  EXPECT_TRUE(created);
  ASSERT_OK_AND_ASSIGN(bool again, client->PutIf("/t/a", "two", 0));
  EXPECT_FALSE(again);  // it exists now
  ASSERT_OK_AND_ASSIGN(std::optional<KeyValue> a, client->Get("/t/a"));
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->value, "one");
  ASSERT_OK_AND_ASSIGN(bool stale, client->PutIf("/t/a", "three", a->mod_revision - 1));
  EXPECT_FALSE(stale);
  ASSERT_OK_AND_ASSIGN(bool fresh, client->PutIf("/t/a", "four", a->mod_revision));
  EXPECT_TRUE(fresh);
  EXPECT_EQ((*client->Get("/t/a"))->value, "four");
  ASSERT_OK_AND_ASSIGN(bool deleted, client->DeleteIf("/t/a", a->mod_revision));
  EXPECT_FALSE(deleted);  // changed since
  EXPECT_TRUE(client->Get("/t/a")->has_value());
}

TEST_F(EtcdClientTest, ListsAPrefixAndNothingBeside) {
  auto client = Client();
  for (const char* key : {"/p/x/1", "/p/x/2", "/p/xy", "/p/y"}) {
    ASSERT_OK(client->PutIf(key, "v", 0).status());
  }
  int64_t revision = 0;
  ASSERT_OK_AND_ASSIGN(std::vector<KeyValue> listed, client->List("/p/x/", &revision));
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].key, "/p/x/1");
  EXPECT_EQ(listed[1].key, "/p/x/2");
  EXPECT_GT(revision, 0);
}

TEST_F(EtcdClientTest, WatchSeesAChangeAndEndsOnCancel) {
  auto writer = Client();
  auto watcher = Client();
  std::atomic<bool> created{false};
  std::atomic<int> events{0};
  absl::Status ended;
  std::thread thread([&] {
    ended = watcher->Watch(
        "/w/", 1, [&] { created = true; },
        [&](const std::vector<WatchEvent>& batch, int64_t) { events += batch.size(); });
  });
  ASSERT_TRUE(palisade::testing::WaitFor([&] { return created.load(); }, absl::Seconds(10)));
  ASSERT_OK(writer->PutIf("/w/k", "v", 0).status());
  EXPECT_TRUE(palisade::testing::WaitFor([&] { return events.load() == 1; }, absl::Seconds(10)));
  watcher->Cancel();
  thread.join();
  EXPECT_TRUE(absl::IsCancelled(ended)) << ended;
}

TEST_F(EtcdClientTest, MovesPastADeadEndpoint) {
  const std::string dead = absl::StrCat("127.0.0.1:", palisade::testing::PickFreeLoopbackPort());
  auto client = Client({dead, cluster_->Endpoints()});
  EXPECT_OK(client->PutIf("/d/k", "v", 0).status());
  EXPECT_TRUE(client->Get("/d/k")->has_value());
}

TEST_F(EtcdClientTest, NoMemberIsStoreUnavailableNamingEndpointAndKey) {
  const std::string dead = absl::StrCat("127.0.0.1:", palisade::testing::PickFreeLoopbackPort());
  auto client = Client({dead});
  const absl::Status s = client->Get("/n/key").status();
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("store_unavailable"));
  EXPECT_THAT(std::string(s.message()), HasSubstr(dead));
  EXPECT_THAT(std::string(s.message()), HasSubstr("/n/key"));
}

// Killing etcd's raft leader leaves the others without a leader for about a
// second, and every call asks for a member with a leader. A write then must
// wait for the election within its deadline, not fail at once.
TEST(EtcdClientElectionTest, WritesRideOutTheLeadersLoss) {
  ASSERT_OK_AND_ASSIGN(auto cluster, palisade::testing::EtcdCluster::Start(
                                         palisade::testing::MakeTempDir("etcd-election"), 3));
  ASSERT_OK_AND_ASSIGN(auto client, EtcdClient::Create({absl::StrSplit(cluster->Endpoints(), ','),
                                                        absl::Seconds(2)}));
  ASSERT_OK(client->PutIf("/e/warm", "v", 0).status());
  const std::optional<int> leader = cluster->LeaderIndex();
  ASSERT_TRUE(leader.has_value());
  cluster->KillMember(*leader);
  int failed = 0;
  std::string last_error;
  absl::Duration slowest;
  for (int i = 0; i < 30; ++i) {
    const absl::Time start = absl::Now();
    absl::StatusOr<bool> put = client->PutIf(absl::StrCat("/e/k", i), "v", 0);
    slowest = std::max(slowest, absl::Now() - start);
    if (!put.ok() || !*put) {
      ++failed;
      last_error = put.ok() ? "not written" : std::string(put.status().message());
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(failed, 0) << "last: " << last_error;
  std::cout << "leader (member " << *leader << ") killed: 30 writes, " << failed
            << " failed, slowest " << absl::FormatDuration(slowest) << "\n";
}

TEST(ParseEndpointsTest, RefusesWhatIsNotHostPortAndTls) {
  EXPECT_THAT(*ParseEndpoints("127.0.0.1:2379, http://10.0.0.1:2379"),
              ::testing::ElementsAre("127.0.0.1:2379", "10.0.0.1:2379"));
  EXPECT_THAT(ParseEndpoints("127.0.0.1").status().message(), HasSubstr("\"127.0.0.1\""));
  EXPECT_THAT(ParseEndpoints("https://e:2379").status().message(), HasSubstr("TLS"));
  EXPECT_FALSE(ParseEndpoints("").ok());
}

}  // namespace
}  // namespace palisade::control::state::etcd
