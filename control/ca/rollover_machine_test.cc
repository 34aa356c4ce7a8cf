#include "control/ca/rollover_machine.h"

#include "gtest/gtest.h"
#include "tests/util/status_matchers.h"

namespace palisade::control::ca {
namespace {

using ::palisade::testing::StatusIs;
using Transition = RolloverMachine::Transition;

constexpr char kOld[] = "old-root";
constexpr char kNew[] = "new-root";

class RolloverMachineTest : public ::testing::Test {
 protected:
  RolloverMachineTest() : machine_(Timeouts()) {}
  static RolloverTimeouts Timeouts() {
    RolloverTimeouts t;
    t.propagating = absl::Minutes(1);
    t.rekeying = absl::Minutes(2);
    t.retiring = absl::Minutes(3);
    return t;
  }
  ProxyView Proxy(const std::string& name, uint64_t acked, const std::string& leaf_root,
                  uint64_t old_connections = 0) {
    ProxyView p;
    p.name = name;
    p.acked_bundle_version = acked;
    p.leaf_root_fingerprint = leaf_root;
    if (old_connections > 0) p.connections_by_root[kOld] = old_connections;
    p.connections_by_root[leaf_root] += 1;
    return p;
  }
  void StartAt(absl::Time t) { ASSERT_OK(machine_.Start(t, 5, kNew, {kOld})); }

  absl::Time t0_ = absl::FromUnixSeconds(1'700'000'000);
  RolloverMachine machine_;
};

TEST_F(RolloverMachineTest, IdleMachineDoesNothing) {
  EXPECT_EQ(machine_.Evaluate(t0_, {Proxy("a", 1, kOld)}), Transition::kNone);
  EXPECT_EQ(machine_.status().phase, RolloverPhase::kIdle);
}

TEST_F(RolloverMachineTest, WaitsForEveryAcknowledgementBeforeRekeying) {
  StartAt(t0_);
  EXPECT_EQ(machine_.status().phase, RolloverPhase::kPropagating);
  EXPECT_EQ(machine_.Evaluate(t0_ + absl::Seconds(1), {Proxy("a", 5, kOld), Proxy("b", 4, kOld)}),
            Transition::kNone);
  EXPECT_EQ(machine_.status().waiting_on, std::vector<std::string>{"b"});
  EXPECT_EQ(machine_.Evaluate(t0_ + absl::Seconds(2), {Proxy("a", 5, kOld), Proxy("b", 5, kOld)}),
            Transition::kEnterRekeying);
  EXPECT_EQ(machine_.status().phase, RolloverPhase::kRekeying);
  EXPECT_EQ(machine_.status().phase_started_at, t0_ + absl::Seconds(2));
}

// Issue 16: trust domains federated with this one learn the new root only at
// their next fetch of its bundle endpoint; no leaf (and no bundle endpoint
// SVID) under the new root before they can have it.
TEST_F(RolloverMachineTest, PropagatesForTheFederationMinimumEvenWhenEveryProxyAcknowledged) {
  RolloverTimeouts timeouts = Timeouts();
  timeouts.propagating_min = absl::Seconds(20);
  RolloverMachine machine(timeouts);
  ASSERT_OK(machine.Start(t0_, 5, kNew, {kOld}));
  EXPECT_EQ(machine.Evaluate(t0_ + absl::Seconds(19), {Proxy("a", 5, kOld)}), Transition::kNone);
  ASSERT_EQ(machine.status().waiting_on.size(), 1u);
  EXPECT_EQ(machine.status().waiting_on[0],
            "federated trust domains: one bundle endpoint refresh (20s)");
  EXPECT_EQ(machine.Evaluate(t0_ + absl::Seconds(20), {Proxy("a", 5, kOld)}),
            Transition::kEnterRekeying);
  EXPECT_NE(machine.status().history.back().find("every proxy is done"), std::string::npos)
      << machine.status().history.back();
}

TEST_F(RolloverMachineTest, RunsThroughEveryPhaseWhenProxiesKeepUp) {
  StartAt(t0_);
  ASSERT_EQ(machine_.Evaluate(t0_, {Proxy("a", 5, kOld)}), Transition::kEnterRekeying);
  EXPECT_EQ(machine_.Evaluate(t0_, {Proxy("a", 5, kOld)}), Transition::kNone);
  ASSERT_EQ(machine_.Evaluate(t0_, {Proxy("a", 5, kNew, /*old_connections=*/2)}),
            Transition::kEnterRetiring);
  EXPECT_EQ(machine_.Evaluate(t0_, {Proxy("a", 5, kNew, 2)}), Transition::kNone);
  EXPECT_EQ(machine_.status().waiting_on, std::vector<std::string>{"a"});
  ASSERT_EQ(machine_.Evaluate(t0_, {Proxy("a", 5, kNew, 0)}), Transition::kFinish);
  EXPECT_EQ(machine_.status().phase, RolloverPhase::kIdle);
  EXPECT_EQ(machine_.status().history.size(), 4u);
}

// Issue 19, item 7: the overview shows earlier rollovers too, within a bound.
TEST_F(RolloverMachineTest, KeepsABoundedHistoryAcrossRolloversWithUtcTimes) {
  absl::Time t = t0_;
  for (int i = 0; i < 20; ++i) {
    StartAt(t);
    ASSERT_EQ(machine_.Evaluate(t, {Proxy("a", 5, kOld)}), Transition::kEnterRekeying);
    ASSERT_EQ(machine_.Evaluate(t, {Proxy("a", 5, kNew)}), Transition::kEnterRetiring);
    ASSERT_EQ(machine_.Evaluate(t, {Proxy("a", 5, kNew)}), Transition::kFinish);
    if (i == 1) EXPECT_EQ(machine_.status().history.size(), 8u);
    t += absl::Hours(1);
  }
  const std::vector<std::string>& history = machine_.status().history;
  ASSERT_EQ(history.size(), kMaxRolloverHistory);
  const nlohmann::json entries = RolloverHistoryToJson(history);
  ASSERT_EQ(entries.size(), kMaxRolloverHistory);
  EXPECT_EQ(entries.back()["time"], "2023-11-15T17:13:20Z") << entries.back().dump();
  EXPECT_EQ(entries.back()["from"], "retiring");
  EXPECT_EQ(entries.back()["to"], "idle");
  EXPECT_EQ(entries.back()["detail"], "every proxy is done");
  EXPECT_EQ(entries[entries.size() - 4]["from"], "idle");
  EXPECT_EQ(entries[entries.size() - 4]["to"], "propagating");
  EXPECT_EQ(RolloverHistoryToJson({"not a phase line"})[0]["detail"], "not a phase line");
}

TEST_F(RolloverMachineTest, EachPhaseGivesUpAtItsTimeoutAndNamesWhoHeldItUp) {
  StartAt(t0_);
  const std::vector<ProxyView> stuck = {Proxy("slow (pod-1)", 4, kOld, 1)};
  EXPECT_EQ(machine_.Evaluate(t0_ + absl::Seconds(59), stuck), Transition::kNone);
  EXPECT_EQ(machine_.Evaluate(t0_ + absl::Seconds(60), stuck), Transition::kEnterRekeying);
  EXPECT_NE(machine_.status().history.back().find("timed out waiting for 1 proxies (slow (pod-1))"),
            std::string::npos)
      << machine_.status().history.back();
  const absl::Time t1 = t0_ + absl::Seconds(60);
  EXPECT_EQ(machine_.Evaluate(t1 + absl::Seconds(119), stuck), Transition::kNone);
  EXPECT_EQ(machine_.Evaluate(t1 + absl::Seconds(120), stuck), Transition::kEnterRetiring);
  const absl::Time t2 = t1 + absl::Seconds(120);
  EXPECT_EQ(machine_.Evaluate(t2 + absl::Seconds(179), stuck), Transition::kNone);
  EXPECT_EQ(machine_.Evaluate(t2 + absl::Seconds(180), stuck), Transition::kFinish);
}

TEST_F(RolloverMachineTest, AnEmptyFleetMovesStraightThrough) {
  StartAt(t0_);
  EXPECT_EQ(machine_.Evaluate(t0_, {}), Transition::kEnterRekeying);
  EXPECT_EQ(machine_.Evaluate(t0_, {}), Transition::kEnterRetiring);
  EXPECT_EQ(machine_.Evaluate(t0_, {}), Transition::kFinish);
}

TEST_F(RolloverMachineTest, RefusesASecondStartWhileUnderWay) {
  StartAt(t0_);
  EXPECT_THAT(machine_.Start(t0_, 6, "x", {}),
              StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::HasSubstr("propagating")));
}

TEST_F(RolloverMachineTest, StatusSurvivesAJsonRoundTripAndResumesItsTimeout) {
  StartAt(t0_);
  ASSERT_EQ(machine_.Evaluate(t0_ + absl::Seconds(10), {}), Transition::kEnterRekeying);
  ASSERT_OK_AND_ASSIGN(RolloverStatus restored,
                       RolloverStatusFromJson(RolloverStatusToJson(machine_.status())));
  RolloverMachine again(Timeouts());
  again.Restore(restored);
  EXPECT_EQ(again.status().phase, RolloverPhase::kRekeying);
  EXPECT_EQ(again.status().new_root, kNew);
  EXPECT_EQ(again.status().old_roots, std::vector<std::string>{kOld});
  const std::vector<ProxyView> stuck = {Proxy("a", 5, kOld)};
  EXPECT_EQ(again.Evaluate(t0_ + absl::Seconds(129), stuck), Transition::kNone);
  EXPECT_EQ(again.Evaluate(t0_ + absl::Seconds(130), stuck), Transition::kEnterRetiring);
}

TEST_F(RolloverMachineTest, RefusesUnknownPhasesInJson) {
  EXPECT_THAT(RolloverStatusFromJson({{"phase", "exploding"}}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(RolloverStatusFromJson(nlohmann::json::array()),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace palisade::control::ca
