#include "proxy/identity_client/control_plane_candidates.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace palisade::identity_client {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;
using Ended = ControlPlaneCandidates::Ended;

// A resolver from a table; counts lookups.
struct FakeDns {
  std::map<std::string, std::vector<std::string>> names;
  int lookups = 0;
  ControlPlaneCandidates::Resolve resolve() {
    return [this](const std::string& host) -> absl::StatusOr<std::vector<std::string>> {
      ++lookups;
      auto it = names.find(host);
      if (it == names.end()) return absl::UnavailableError("NXDOMAIN " + host);
      return it->second;
    };
  }
};

// The first `n` candidates in the order tried, failing each.
std::vector<std::string> Order(ControlPlaneCandidates& c, size_t n) {
  std::vector<std::string> order;
  for (size_t i = 0; i < n; ++i) {
    order.push_back(c.Current());
    c.OnEnded(Ended::kFailed);
  }
  return order;
}

TEST(ControlPlaneCandidatesTest, ConfiguredIsTheAddressThenTheFurtherReplicas) {
  config::v1::ControlPlaneIdentitySource config;
  config.set_address("a:1");
  config.add_addresses("b:2");
  config.add_addresses("c:3");
  EXPECT_THAT(ControlPlaneCandidates::Configured(config), ElementsAre("a:1", "b:2", "c:3"));
}

TEST(ControlPlaneCandidatesTest, OneReplicaBacksOffAfterEveryEndAsBefore) {
  FakeDns dns;
  ControlPlaneCandidates c({.addresses = {"127.0.0.1:15012"}, .resolve = dns.resolve()});
  EXPECT_EQ(c.Current(), "127.0.0.1:15012");
  EXPECT_TRUE(c.OnEnded(Ended::kFailed));
  EXPECT_TRUE(c.OnEnded(Ended::kWorked));
  EXPECT_FALSE(c.OnEnded(Ended::kReconnect));
  EXPECT_EQ(c.Current(), "127.0.0.1:15012");
  EXPECT_EQ(dns.lookups, 0);  // an IP literal is not looked up
}

TEST(ControlPlaneCandidatesTest, MovesToTheNextReplicaAtOnceAndBacksOffOnlyAfterAFullRound) {
  FakeDns dns;
  ControlPlaneCandidates c(
      {.addresses = {"127.0.0.1:1", "127.0.0.2:2", "127.0.0.3:3"}, .resolve = dns.resolve()});
  EXPECT_EQ(c.Current(), "127.0.0.1:1");  // in the configured order
  EXPECT_FALSE(c.OnEnded(Ended::kFailed));
  EXPECT_EQ(c.Current(), "127.0.0.2:2");
  EXPECT_FALSE(c.OnEnded(Ended::kFailed));
  EXPECT_EQ(c.Current(), "127.0.0.3:3");
  EXPECT_TRUE(c.OnEnded(Ended::kFailed));  // all three failed: back off
  EXPECT_EQ(c.Current(), "127.0.0.1:1");
  // A new round: untried replicas again at once.
  EXPECT_FALSE(c.OnEnded(Ended::kFailed));
  EXPECT_EQ(c.Current(), "127.0.0.2:2");
}

TEST(ControlPlaneCandidatesTest, AStreamThatWorkedAndBrokeMovesOnAtOnceAndCountsAsTried) {
  FakeDns dns;
  ControlPlaneCandidates c({.addresses = {"127.0.0.1:1", "127.0.0.2:2"}, .resolve = dns.resolve()});
  EXPECT_FALSE(c.OnEnded(Ended::kFailed));
  EXPECT_EQ(c.Current(), "127.0.0.2:2");
  // On b for a while, then b dies: a at once (the earlier failure of a
  // belongs to an old round).
  EXPECT_FALSE(c.OnEnded(Ended::kWorked));
  EXPECT_EQ(c.Current(), "127.0.0.1:1");
  // a fails too: both tried since b broke, so back off.
  EXPECT_TRUE(c.OnEnded(Ended::kFailed));
  EXPECT_EQ(c.Current(), "127.0.0.2:2");
}

TEST(ControlPlaneCandidatesTest, ABootstrapReconnectStaysOnTheSameReplica) {
  FakeDns dns;
  ControlPlaneCandidates c({.addresses = {"127.0.0.1:1", "127.0.0.2:2"}, .resolve = dns.resolve()});
  EXPECT_FALSE(c.OnEnded(Ended::kReconnect));
  EXPECT_EQ(c.Current(), "127.0.0.1:1");
  EXPECT_FALSE(c.OnEnded(Ended::kFailed));
  EXPECT_TRUE(c.OnEnded(Ended::kFailed));
}

TEST(ControlPlaneCandidatesTest, ANameWithSeveralAddressesMakesEachACandidate) {
  FakeDns dns;
  dns.names["palisade-control"] = {"10.0.0.1", "10.0.0.2", "fd00::3"};
  dns.names["one"] = {"10.0.0.9"};
  ControlPlaneCandidates c(
      {.addresses = {"palisade-control:15012", "one:15012", "missing:15012", "10.0.0.2:15012"},
       .resolve = dns.resolve()});
  // One name's addresses, then a name with one address and one that does not
  // resolve (both dialled by name, as before); 10.0.0.2:15012 only once.
  ASSERT_EQ(c.size(), 5u);
  const std::vector<std::string> order = Order(c, 5);
  EXPECT_THAT(std::vector<std::string>(order.begin(), order.begin() + 3),
              UnorderedElementsAre("10.0.0.1:15012", "10.0.0.2:15012", "[fd00::3]:15012"));
  EXPECT_THAT(std::vector<std::string>(order.begin() + 3, order.end()),
              ElementsAre("one:15012", "missing:15012"));
}

TEST(ControlPlaneCandidatesTest, ANamesAddressesAreShuffledToSpreadAFleet) {
  FakeDns dns;
  dns.names["cp"] = {"10.0.0.1", "10.0.0.2", "10.0.0.3"};
  // Fisher-Yates with 0.0 every draw: each position swaps with the first.
  ControlPlaneCandidates first(
      {.addresses = {"cp:1"}, .resolve = dns.resolve(), .unit_random = [] { return 0.0; }});
  EXPECT_THAT(Order(first, 3), ElementsAre("10.0.0.2:1", "10.0.0.3:1", "10.0.0.1:1"));
  // 0.999 every draw keeps the order.
  ControlPlaneCandidates last(
      {.addresses = {"cp:1"}, .resolve = dns.resolve(), .unit_random = [] { return 0.999; }});
  EXPECT_THAT(Order(last, 3), ElementsAre("10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"));
}

TEST(ControlPlaneCandidatesTest, NamesAreResolvedAgainOnEachPass) {
  FakeDns dns;
  dns.names["cp"] = {"10.0.0.1", "10.0.0.2"};
  ControlPlaneCandidates c(
      {.addresses = {"cp:1"}, .resolve = dns.resolve(), .unit_random = [] { return 0.999; }});
  EXPECT_EQ(c.Current(), "10.0.0.1:1");
  EXPECT_EQ(dns.lookups, 1);
  // A replica replaced (a pod rescheduled): the next pass sees it.
  dns.names["cp"] = {"10.0.0.1", "10.0.0.7"};
  EXPECT_FALSE(c.OnEnded(Ended::kFailed));
  EXPECT_EQ(c.Current(), "10.0.0.2:1");
  EXPECT_TRUE(c.OnEnded(Ended::kFailed));
  EXPECT_EQ(dns.lookups, 2);
  EXPECT_THAT(Order(c, 2), ElementsAre("10.0.0.1:1", "10.0.0.7:1"));
}

TEST(ControlPlaneCandidatesTest, TheDefaultResolverUsesTheSystemsAnswer) {
  // localhost: 127.0.0.1 and perhaps ::1, as /etc/hosts says here.
  ControlPlaneCandidates c({.addresses = {"localhost:15012"}});
  for (size_t i = 0; i < c.size(); ++i) {
    EXPECT_THAT(c.Current(), ::testing::AnyOf("localhost:15012", "127.0.0.1:15012", "[::1]:15012"));
    c.OnEnded(Ended::kFailed);
  }
}

}  // namespace
}  // namespace palisade::identity_client
