// palisade-control replicas on a real three-member etcd elect one leader
// through an etcd lease (issue 14, item 2): status and metrics say who
// leads; kill -9 of the leader hands leadership to the other replica within
// the lease TTL and a few seconds, and the killed replica's rollover view
// under replicas/ goes with its lease. The rollover status lives in etcd:
// the leader evaluates every live replica's proxies, and a leader killed
// mid-phase is succeeded by one that resumes from the stored phase.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/util/control_process.h"
#include "tests/util/etcd_cluster.h"
#include "tests/util/loopback.h"
#include "tests/util/process.h"
#include "tests/util/prometheus_text.h"
#include "tests/util/replica_view.h"
#include "tests/util/status_matchers.h"

namespace palisade::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPrefix[] = "/palisade/example.org/";
constexpr absl::Duration kTtl = absl::Seconds(3);
// The lease TTL, a keep-alive period and a poll, on a loaded machine.
const absl::Duration kHandover = absl::Seconds(13);

class ControlLeaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("control-leader");
    ASSERT_OK_AND_ASSIGN(etcd_, EtcdCluster::Start(dir_ + "/etcd"));
    // The self-managed CA lives in etcd, sealed under this key (every
    // replica the same; owner-only, as palisade-control demands).
    kek_file_ = dir_ + "/kek";
    ASSERT_TRUE(WriteFile(kek_file_, std::string(32, 'k')));
    ASSERT_EQ(chmod(kek_file_.c_str(), 0400), 0);
  }

  std::vector<std::string> EtcdFlags(const std::string& id) const {
    return {"--store=etcd", "--etcd_endpoints=" + etcd_->Endpoints(), "--leader_lease_ttl=3s",
            "--replica_id=" + id, "--ca_kek_file=" + kek_file_};
  }

  static nlohmann::json Leadership(const ControlProcess& control) {
    const nlohmann::json state = control.State();
    if (state.is_discarded() || !state.contains("leadership")) return nlohmann::json::object();
    return state["leadership"];
  }
  static std::string Role(const ControlProcess& control) {
    return Leadership(control).value("role", "");
  }
  static std::optional<double> Metric(const ControlProcess& control, const std::string& name) {
    return MetricValue(HttpGet(control.admin_url() + "/metrics").body, name);
  }
  std::string EtcdKeys(const std::string& dir) const {
    return etcd_->Etcdctl({"get", "--prefix", "--keys-only", std::string(kPrefix) + dir}).output;
  }

  std::string dir_;
  std::string kek_file_;
  std::unique_ptr<EtcdCluster> etcd_;
};

TEST_F(ControlLeaderTest, OneOfTwoReplicasLeadsAndKillNineHandsOver) {
  // Both on the one self-managed CA in etcd (sealed under the test's KEK).
  auto flags = [&](const std::string& id) { return EtcdFlags(id); };
  ASSERT_OK_AND_ASSIGN(auto r1,
                       ControlProcess::Start(MakeTempDir("control-leader-r1"), flags("r1")));
  ASSERT_OK_AND_ASSIGN(auto r2,
                       ControlProcess::Start(MakeTempDir("control-leader-r2"), flags("r2")));

  // Exactly one leads, and both name it.
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string a = Role(*r1), b = Role(*r2);
        return (a == "leader" && b == "follower") || (a == "follower" && b == "leader");
      },
      kHandover))
      << Leadership(*r1).dump() << " " << Leadership(*r2).dump();
  const bool r1_leads = Role(*r1) == "leader";
  ControlProcess& leader = r1_leads ? *r1 : *r2;
  ControlProcess& follower = r1_leads ? *r2 : *r1;
  const std::string leader_id = r1_leads ? "r1" : "r2";
  const std::string follower_id = r1_leads ? "r2" : "r1";
  EXPECT_TRUE(WaitFor([&] { return Leadership(follower).value("leader", "") == leader_id; },
                      absl::Seconds(10)))
      << Leadership(follower).dump();
  EXPECT_EQ(Leadership(leader).value("replica_id", ""), leader_id);
  EXPECT_EQ(Metric(leader, "palisade_control_leader"), 1);
  EXPECT_EQ(Metric(follower, "palisade_control_leader"), 0);
  EXPECT_EQ(Metric(leader, "palisade_control_leader_changes_total"), 1);
  EXPECT_EQ(Metric(follower, "palisade_control_leader_changes_total"), 0);
  // A follower is ready: it issues and serves streams like the leader.
  EXPECT_EQ(HttpGet(follower.admin_url() + "/ready").status, 200);
  // Both publish their rollover view, attached to their leases.
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string keys = EtcdKeys("replicas/");
        return keys.find("replicas/r1") != std::string::npos &&
               keys.find("replicas/r2") != std::string::npos;
      },
      absl::Seconds(15)))
      << EtcdKeys("replicas/");

  leader.process().Kill();
  const absl::Time killed = absl::Now();
  ASSERT_TRUE(WaitFor([&] { return Role(follower) == "leader"; }, kHandover))
      << Leadership(follower).dump();
  std::cout << "follower led " << absl::FormatDuration(absl::Now() - killed)
            << " after kill -9 of the leader (TTL " << absl::FormatDuration(kTtl) << ")\n";
  EXPECT_EQ(Leadership(follower).value("leader", ""), follower_id);
  EXPECT_EQ(Metric(follower, "palisade_control_leader"), 1);
  EXPECT_EQ(Metric(follower, "palisade_control_leader_changes_total"), 1);
  // The dead replica's view went with its lease; the live one's stays.
  EXPECT_TRUE(WaitFor(
      [&] { return EtcdKeys("replicas/").find("replicas/" + leader_id) == std::string::npos; },
      kHandover))
      << EtcdKeys("replicas/");
  EXPECT_THAT(EtcdKeys("replicas/"), HasSubstr("replicas/" + follower_id));
}

TEST_F(ControlLeaderTest, RolloverWaitsOnEveryReplicasProxiesAndResumesAfterKillNine) {
  // Another replica's view with one proxy that has acknowledged nothing: the
  // leader must wait on it (every proxy of every replica).
  const std::string ghost = PutNeverAcknowledgingReplica(*etcd_, kPrefix, "ghost");
  ASSERT_FALSE(ghost.empty());

  const std::string dir = MakeTempDir("control-leader-rollover");
  ASSERT_OK_AND_ASSIGN(auto first, ControlProcess::Start(dir, EtcdFlags("r1")));
  ASSERT_TRUE(WaitFor([&] { return Role(*first) == "leader"; }, kHandover));
  const CommandResult started = first->Cli({"rollover", "start"});
  ASSERT_EQ(started.exit_code, 0) << started.output;
  nlohmann::json rollover;
  ASSERT_TRUE(WaitFor(
      [&] {
        rollover = first->State()["rollover"];
        return rollover["waiting_on"].dump().find("ghost-proxy") != std::string::npos;
      },
      absl::Seconds(15)))
      << rollover.dump();
  EXPECT_EQ(rollover["phase"], "propagating");
  const uint64_t target = rollover["target_bundle_version"].get<uint64_t>();
  const std::string started_at = rollover["started_at"].get<std::string>();
  // Stored in etcd, not in the state directory.
  const std::string stored =
      etcd_->Etcdctl({"get", "--print-value-only", std::string(kPrefix) + "rollover/status"})
          .output;
  EXPECT_THAT(stored, HasSubstr("\"propagating\"")) << stored;
  EXPECT_NE(access((first->state_dir() + "/rollover.json").c_str(), F_OK), 0);

  first->process().Kill();
  first.reset();
  // The next leader, another replica on its own state directory (the CA,
  // new root included, comes from etcd), resumes from the stored phase, not
  // from idle.
  ASSERT_OK_AND_ASSIGN(auto second, ControlProcess::Start(MakeTempDir("control-leader-rollover-2"),
                                                          EtcdFlags("r2")));
  ASSERT_TRUE(WaitFor([&] { return Role(*second) == "leader"; }, kHandover))
      << Leadership(*second).dump();
  rollover = second->State()["rollover"];
  EXPECT_EQ(rollover["phase"], "propagating") << rollover.dump();
  EXPECT_EQ(rollover["target_bundle_version"].get<uint64_t>(), target);
  EXPECT_EQ(rollover["started_at"], started_at);
  // A view that does not parse stops the steps (no decision on part of the
  // fleet), named in the log, even once the ghost is gone.
  const std::string junk = std::string(kPrefix) + "replicas/junk";
  ASSERT_EQ(etcd_->Etcdctl({"put", junk, "{not json"}).exit_code, 0);
  ASSERT_EQ(etcd_->Etcdctl({"del", ghost}).exit_code, 0);
  EXPECT_TRUE(WaitFor([&] { return second->process().Output().find(junk) != std::string::npos; },
                      absl::Seconds(10)));
  const absl::Time held_until = absl::Now() + absl::Seconds(3);
  while (absl::Now() < held_until) {
    ASSERT_EQ(second->State()["rollover"]["phase"], "propagating");
    absl::SleepFor(absl::Milliseconds(200));
  }
  // The junk goes too (as a dead replica's view does with its lease): the
  // new leader completes the rollover.
  ASSERT_EQ(etcd_->Etcdctl({"del", junk}).exit_code, 0);
  ASSERT_TRUE(
      WaitFor([&] { return second->State()["rollover"]["phase"] == "idle"; }, absl::Seconds(20)))
      << second->State()["rollover"].dump();
  const std::string history = second->State()["rollover"]["history"].dump();
  EXPECT_THAT(history, HasSubstr("propagating -> rekeying"));
  EXPECT_THAT(history, HasSubstr("retiring -> idle"));
  EXPECT_THAT(
      etcd_->Etcdctl({"get", "--print-value-only", std::string(kPrefix) + "rollover/status"})
          .output,
      HasSubstr("\"idle\""));
}

// A follower's status shows what the leader waits on (its own proxies and
// every replica's), not an empty list: the leader stores waiting_on with the
// rollover status when it changes.
TEST_F(ControlLeaderTest, FollowerShowsTheLeadersWaitingOn) {
  const std::string ghost = PutNeverAcknowledgingReplica(*etcd_, kPrefix, "ghost");
  ASSERT_FALSE(ghost.empty());
  ASSERT_OK_AND_ASSIGN(auto r1,
                       ControlProcess::Start(MakeTempDir("control-leader-w1"), EtcdFlags("r1")));
  ASSERT_TRUE(WaitFor([&] { return Role(*r1) == "leader"; }, kHandover));
  ASSERT_OK_AND_ASSIGN(auto r2,
                       ControlProcess::Start(MakeTempDir("control-leader-w2"), EtcdFlags("r2")));
  ASSERT_TRUE(WaitFor([&] { return Role(*r2) == "follower"; }, kHandover));
  const CommandResult started = r2->Cli({"rollover", "start"});
  ASSERT_EQ(started.exit_code, 0) << started.output;
  ASSERT_TRUE(WaitFor(
      [&] {
        return r1->State()["rollover"]["waiting_on"].dump().find("ghost-proxy") !=
               std::string::npos;
      },
      absl::Seconds(15)))
      << r1->State()["rollover"].dump();
  EXPECT_TRUE(WaitFor(
      [&] {
        return r2->State()["rollover"]["waiting_on"].dump().find("ghost-proxy") !=
               std::string::npos;
      },
      absl::Seconds(10)))
      << r2->State()["rollover"].dump();
  // And it empties there too once the ghost goes and the rollover ends.
  ASSERT_EQ(etcd_->Etcdctl({"del", ghost}).exit_code, 0);
  EXPECT_TRUE(WaitFor(
      [&] {
        const nlohmann::json rollover = r2->State()["rollover"];
        return rollover["phase"] == "idle" && rollover["waiting_on"].empty();
      },
      absl::Seconds(30)))
      << r2->State()["rollover"].dump();
}

TEST_F(ControlLeaderTest, BadLeaderFlagsAreRefusedNamingTheFlag) {
  const CommandResult ttl =
      RunCommand({kControlBinary, "serve", "--trust_domain=example.org",
                  "--state_dir=" + MakeTempDir("control-leader-bad"), "--store=etcd",
                  "--etcd_endpoints=" + etcd_->Endpoints(), "--leader_lease_ttl=1s"},
                 absl::Seconds(20));
  EXPECT_EQ(ttl.exit_code, 2);
  EXPECT_THAT(ttl.output, HasSubstr("--leader_lease_ttl"));
  const CommandResult id =
      RunCommand({kControlBinary, "serve", "--trust_domain=example.org",
                  "--state_dir=" + MakeTempDir("control-leader-bad"), "--store=etcd",
                  "--etcd_endpoints=" + etcd_->Endpoints(), "--replica_id=a/b"},
                 absl::Seconds(20));
  EXPECT_EQ(id.exit_code, 2);
  EXPECT_THAT(id.output, HasSubstr("--replica_id"));
}

}  // namespace
}  // namespace palisade::testing
