// Leader fencing (issue 14): a leader paused past its lease (SIGSTOP) while
// another replica took over writes no rollover step after SIGCONT: it knows
// it may no longer lead (its lease is unconfirmed), and the step it might
// still be about to write is fenced on the leader key (our id under our
// lease; control/state/etcd leader_lease_test covers that write itself).
// The new leader completes the rollover.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/util/control_process.h"
#include "tests/util/etcd_cluster.h"
#include "tests/util/process.h"
#include "tests/util/replica_view.h"
#include "tests/util/status_matchers.h"

namespace palisade::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kPrefix[] = "/palisade/example.org/";
// The lease TTL, a keep-alive period and a poll, on a loaded machine.
const absl::Duration kHandover = absl::Seconds(15);

class ControlLeaderFencingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("control-fencing");
    ASSERT_OK_AND_ASSIGN(etcd_, EtcdCluster::Start(dir_ + "/etcd"));
    kek_file_ = dir_ + "/kek";
    ASSERT_TRUE(WriteFile(kek_file_, std::string(32, 'k')));
    ASSERT_EQ(chmod(kek_file_.c_str(), 0400), 0);
  }
  std::vector<std::string> Flags(const std::string& id) const {
    return {"--store=etcd", "--etcd_endpoints=" + etcd_->Endpoints(), "--leader_lease_ttl=3s",
            "--replica_id=" + id, "--ca_kek_file=" + kek_file_};
  }
  static std::string Role(const ControlProcess& control) {
    const nlohmann::json state = control.State();
    if (state.is_discarded() || !state.contains("leadership")) return "";
    return state["leadership"].value("role", "");
  }
  // rollover/status as stored, parsed (a discarded value when absent).
  nlohmann::json Stored() const {
    return nlohmann::json::parse(
        etcd_->Etcdctl({"get", "--print-value-only", std::string(kPrefix) + "rollover/status"})
            .output,
        nullptr, false);
  }

  std::string dir_;
  std::string kek_file_;
  std::unique_ptr<EtcdCluster> etcd_;
};

TEST_F(ControlLeaderFencingTest, LeaderPausedPastItsLeaseWritesNoStepAfterAnotherTookOver) {
  ASSERT_OK_AND_ASSIGN(auto r1, ControlProcess::Start(MakeTempDir("fencing-r1"), Flags("r1")));
  ASSERT_TRUE(WaitFor([&] { return Role(*r1) == "leader"; }, kHandover));
  ASSERT_OK_AND_ASSIGN(auto r2, ControlProcess::Start(MakeTempDir("fencing-r2"), Flags("r2")));
  ASSERT_TRUE(WaitFor([&] { return Role(*r2) == "follower"; }, kHandover));
  // A proxy that never acknowledges holds the rollover in propagating.
  const std::string ghost = PutNeverAcknowledgingReplica(*etcd_, kPrefix, "ghost");
  ASSERT_FALSE(ghost.empty());
  const CommandResult started = r1->Cli({"rollover", "start"});
  ASSERT_EQ(started.exit_code, 0) << started.output;
  ASSERT_TRUE(WaitFor(
      [&] {
        return r1->State()["rollover"]["waiting_on"].dump().find("ghost") != std::string::npos;
      },
      absl::Seconds(15)));

  // Paused past its lease; the guard resumes it whatever happens below.
  r1->process().Signal(SIGSTOP);
  struct Resume {
    ControlProcess* p;
    ~Resume() { p->process().Signal(SIGCONT); }
  } resume{r1.get()};
  ASSERT_TRUE(WaitFor([&] { return Role(*r2) == "leader"; }, kHandover));
  const nlohmann::json before = Stored();
  ASSERT_FALSE(before.is_discarded());
  EXPECT_EQ(before.value("phase", ""), "propagating");
  const size_t log_offset = r1->process().Output().size();
  r1->process().Signal(SIGCONT);

  // For two TTLs after it resumed: r1 follows and writes nothing.
  ASSERT_TRUE(WaitFor([&] { return Role(*r1) == "follower"; }, kHandover))
      << r1->State()["leadership"].dump();
  const absl::Time until = absl::Now() + absl::Seconds(6);
  while (absl::Now() < until) {
    const nlohmann::json now = Stored();
    ASSERT_FALSE(now.is_discarded());
    // r1 wrote the start; anything newer from it would be a step.
    if (now.value("written_by", "") == "r1") {
      ASSERT_EQ(now.value("written_at_ms", int64_t{0}), before.value("written_at_ms", int64_t{0}))
          << now.dump();
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
  const std::string after = r1->process().Output().substr(log_offset);
  EXPECT_EQ(after.find("\"root rollover\""), std::string::npos) << after;

  // The ghost goes: the new leader completes the rollover, every step its own.
  ASSERT_EQ(etcd_->Etcdctl({"del", ghost}).exit_code, 0);
  ASSERT_TRUE(WaitFor([&] { return Stored().value("phase", "") == "idle"; }, absl::Seconds(30)))
      << Stored().dump();
  EXPECT_EQ(Stored().value("written_by", ""), "r2");
  EXPECT_THAT(Stored()["history"].dump(), HasSubstr("retiring -> idle"));
}

}  // namespace
}  // namespace palisade::testing
