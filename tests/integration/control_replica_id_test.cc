// --replica_id is unique among live replicas (issue 14): a replica claims
// <prefix>replicas/<id> under its own etcd lease only if the key is absent.
// A second replica with the id of a live one waits for the key (about two
// lease TTLs) and then refuses to start, naming the flag; a replica
// restarted after kill -9 with the same id starts once the old lease has
// expired (it waits for it instead of refusing).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "tests/util/control_process.h"
#include "tests/util/etcd_cluster.h"
#include "tests/util/process.h"
#include "tests/util/status_matchers.h"

namespace palisade::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kPrefix[] = "/palisade/example.org/";

class ControlReplicaIdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("control-replica-id");
    ASSERT_OK_AND_ASSIGN(etcd_, EtcdCluster::Start(dir_ + "/etcd"));
    kek_file_ = dir_ + "/kek";
    ASSERT_TRUE(WriteFile(kek_file_, std::string(32, 'k')));
    ASSERT_EQ(chmod(kek_file_.c_str(), 0400), 0);
  }

  std::vector<std::string> Flags(const std::string& id) const {
    return {"--store=etcd", "--etcd_endpoints=" + etcd_->Endpoints(), "--leader_lease_ttl=3s",
            "--replica_id=" + id, "--ca_kek_file=" + kek_file_};
  }
  // The lease id <prefix>replicas/<id> is attached to ("" when absent).
  std::string KeyLease(const std::string& id) const {
    const CommandResult r =
        etcd_->Etcdctl({"get", std::string(kPrefix) + "replicas/" + id, "-w", "json"});
    const nlohmann::json j = nlohmann::json::parse(r.output, nullptr, false);
    if (j.is_discarded() || !j.contains("kvs") || j["kvs"].empty()) return "";
    return j["kvs"][0].value("lease", nlohmann::json(0)).dump();
  }

  std::string dir_;
  std::string kek_file_;
  std::unique_ptr<EtcdCluster> etcd_;
};

TEST_F(ControlReplicaIdTest, SecondLiveReplicaWithTheSameIdRefusesToStart) {
  ASSERT_OK_AND_ASSIGN(auto r1, ControlProcess::Start(MakeTempDir("replica-id-r1"), Flags("same")));
  ASSERT_TRUE(WaitFor([&] { return !KeyLease("same").empty(); }, absl::Seconds(10)));
  const std::string lease = KeyLease("same");

  const absl::Time start = absl::Now();
  auto r2 = ControlProcess::Start(MakeTempDir("replica-id-r2"), Flags("same"));
  EXPECT_FALSE(r2.ok()) << "two live replicas run with --replica_id=same";
  EXPECT_THAT(std::string(r2.status().message()), HasSubstr("--replica_id: \"same\""));
  EXPECT_THAT(std::string(r2.status().message()), HasSubstr("in use by a live replica"));
  std::cout << "duplicate id refused after " << absl::Now() - start << "\n";
  // The first one is untouched: its key, its lease, still ready.
  EXPECT_EQ(KeyLease("same"), lease);
  EXPECT_EQ(HttpGet(r1->admin_url() + "/ready").status, 200);
}

TEST_F(ControlReplicaIdTest, RestartAfterKillNineWithTheSameIdStartsOnceTheOldLeaseExpired) {
  ASSERT_OK_AND_ASSIGN(auto r1, ControlProcess::Start(MakeTempDir("replica-id-r1"), Flags("same")));
  ASSERT_TRUE(WaitFor([&] { return !KeyLease("same").empty(); }, absl::Seconds(10)));
  const std::string old_lease = KeyLease("same");
  r1->process().Kill();
  // At once, within the old lease's TTL: it waits for the key, then starts.
  const absl::Time start = absl::Now();
  ASSERT_OK_AND_ASSIGN(auto again,
                       ControlProcess::Start(MakeTempDir("replica-id-again"), Flags("same")));
  std::cout << "restart with the same id ready after " << absl::Now() - start << "\n";
  EXPECT_TRUE(WaitFor([&] { return !KeyLease("same").empty() && KeyLease("same") != old_lease; },
                      absl::Seconds(10)))
      << KeyLease("same") << " " << old_lease;
  EXPECT_EQ(HttpGet(again->admin_url() + "/ready").status, 200);
}

}  // namespace
}  // namespace palisade::testing
