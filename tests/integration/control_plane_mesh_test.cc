// End to end with the real binaries: palisade-control issues the SVIDs of two
// palisade-proxy processes (join tokens from its admin API, then renewals
// over mTLS), traffic crosses the mesh on them, short-lived SVIDs renew
// without dropping it, and a root rollover runs through every phase with the
// proxies acknowledging the bundle and answering the re-key.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/util/loopback.h"
#include "tests/util/mesh_fixture.h"
#include "tests/util/process.h"
#include "tests/util/prometheus_text.h"
#include "tests/util/status_matchers.h"

namespace palisade::testing {
namespace {

constexpr char kFrontend[] = "spiffe://example.org/ns/shop/sa/frontend";
constexpr char kBackend[] = "spiffe://example.org/ns/shop/sa/backend";

class ControlPlaneMeshTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK_AND_ASSIGN(echo_, mesh_.StartBackend("echo")); }
  void TearDown() override {
    mesh_.StopProxy("outbound");
    mesh_.StopProxy("inbound");
    if (mesh_.has_control()) {
      EXPECT_EQ(mesh_.control().process().Stop(), 0) << mesh_.control().process().Output();
    }
  }

  void StartControl(const std::vector<std::string>& flags = {}) {
    ASSERT_OK(mesh_.StartControl(flags));
    control_ = &mesh_.control();
  }

  // Both proxies bootstrap with single-use join tokens from the admin API.
  void StartMesh() {
    ASSERT_OK_AND_ASSIGN(ProxyYaml backend, mesh_.ControlPlaneConfig("backend", kBackend));
    backend.AddInbound("in", echo_->address()).authorization.spiffe_ids = {kFrontend};
    ASSERT_OK_AND_ASSIGN(inbound_, mesh_.StartReadyProxy("inbound", backend));
    ASSERT_OK_AND_ASSIGN(ProxyYaml frontend, mesh_.ControlPlaneConfig("frontend", kFrontend));
    frontend.AddOutbound("out", absl::StrCat("127.0.0.1:", *inbound_->ListenerPort("in")))
        .expected_peer.spiffe_id = kBackend;
    ASSERT_OK_AND_ASSIGN(outbound_, mesh_.StartReadyProxy("outbound", frontend));
  }

  int ConnectOut() { return ConnectLoopback(*outbound_->ListenerPort("out")); }

  std::string RoundTrip(const std::string& message) {
    const int fd = ConnectOut();
    if (fd < 0) return "connect failed";
    std::string reply = EchoExchange(fd, message);
    close(fd);
    return reply;
  }

  static nlohmann::json Certs(ProxyProcess& proxy) { return proxy.Certs(); }
  nlohmann::json State() { return control_->State(); }
  std::string Logs() { return mesh_.Logs(); }

  MeshFixture mesh_{{.trust_domain = "example.org", .dir_prefix = "control_plane_mesh"}};
  ControlProcess* control_ = nullptr;
  EchoBackend* echo_ = nullptr;
  ProxyProcess* inbound_ = nullptr;
  ProxyProcess* outbound_ = nullptr;
};

TEST_F(ControlPlaneMeshTest, ProxiesBootstrapFromPalisadeControlAndCarryTraffic) {
  StartControl();
  StartMesh();
  EXPECT_EQ(RoundTrip("hello, control plane"), "hello, control plane");
  EXPECT_EQ(Certs(*inbound_)["svid"]["spiffe_id"], kBackend);
  EXPECT_EQ(Certs(*outbound_)["svid"]["spiffe_id"], kFrontend);
  EXPECT_EQ(Certs(*inbound_)["source"], "control-plane");
  // Both are connected again, now over mTLS: their join tokens were single-use.
  ASSERT_TRUE(WaitFor(
      [&] {
        const nlohmann::json state = State();
        int connected = 0;
        for (const auto& w : state["workloads"]) connected += w.value("connected", false) ? 1 : 0;
        return connected == 2;
      },
      absl::Seconds(20)))
      << State().dump(2);
  for (ProxyProcess* proxy : {inbound_, outbound_}) {
    EXPECT_EQ(MetricValue(proxy->Metrics(), "palisade_identity_client_connected"), 1);
  }
}

TEST_F(ControlPlaneMeshTest, ShortLivedSvidsRenewOverMtlsWithoutDroppingTraffic) {
  StartControl({"--svid_ttl=6s", "--clock_skew=1s"});
  StartMesh();
  const std::string first = Certs(*inbound_)["svid"]["serial"];
  ASSERT_TRUE(
      WaitFor([&] { return Certs(*inbound_)["svid"]["serial"] != first; }, absl::Seconds(30)))
      << Logs();
  // A second renewal: the first was not a one-off.
  const std::string second = Certs(*inbound_)["svid"]["serial"];
  ASSERT_TRUE(
      WaitFor([&] { return Certs(*inbound_)["svid"]["serial"] != second; }, absl::Seconds(30)))
      << Logs();
  EXPECT_EQ(RoundTrip("still here"), "still here");
  const nlohmann::json state = State();
  for (const auto& w : state["workloads"]) {
    if (w["spiffe_id"] == kBackend) EXPECT_GE(w["renewals"].get<int>(), 2) << w.dump();
  }
}

TEST_F(ControlPlaneMeshTest, ARootRolloverRunsThroughEveryPhaseWithRealProxies) {
  StartControl();
  StartMesh();
  const std::string old_root = Certs(*inbound_)["svid"]["root_fingerprint"];
  const HttpResult started = control_->AdminPost("/api/v1/rollover/start");
  ASSERT_EQ(started.status, 200) << started.body;
  // propagating -> rekeying -> retiring -> idle, each ended by the proxies
  // (acks, re-keyed leaves, connection reports), long before any timeout.
  ASSERT_TRUE(WaitFor(
      [&] {
        const nlohmann::json rollover = State()["rollover"];
        return rollover["phase"] == "idle" && rollover["history"].size() >= 4;
      },
      absl::Seconds(60)))
      << State()["rollover"].dump(2) << "\n"
      << Logs();
  const nlohmann::json roots = State()["bundle"]["roots"];
  ASSERT_EQ(roots.size(), 1u);
  const std::string new_root = roots[0]["fingerprint_sha256"];
  EXPECT_NE(new_root, old_root);
  for (ProxyProcess* proxy : {inbound_, outbound_}) {
    ASSERT_TRUE(WaitFor(
        [&] {
          const nlohmann::json certs = Certs(*proxy);
          return certs["svid"]["root_fingerprint"] == new_root &&
                 certs["trust_bundles"]["example.org"].size() == 1;
        },
        absl::Seconds(20)))
        << Certs(*proxy).dump(2);
  }
  EXPECT_EQ(RoundTrip("after the rollover"), "after the rollover");
}

TEST_F(ControlPlaneMeshTest, RetiringWaitsForTheConnectionsTheProxiesReportOnTheOldRoot) {
  StartControl();
  StartMesh();
  // A live connection, authenticated under the old root on both proxies.
  const int fd = ConnectOut();
  ASSERT_GE(fd, 0);
  ASSERT_EQ(EchoExchange(fd, "before"), "before");
  const HttpResult started = control_->AdminPost("/api/v1/rollover/start");
  ASSERT_EQ(started.status, 200) << started.body;
  ASSERT_TRUE(WaitFor(
      [&] {
        const nlohmann::json rollover = State()["rollover"];
        return rollover["phase"] == "retiring" && !rollover["waiting_on"].empty();
      },
      absl::Seconds(60)))
      << State()["rollover"].dump(2) << "\n"
      << Logs();
  EXPECT_EQ(EchoExchange(fd, "during"), "during");  // rotation never touches a live connection

  close(fd);  // the next connection reports (every 10 s) let it finish
  ASSERT_TRUE(WaitFor([&] { return State()["rollover"]["phase"] == "idle"; }, absl::Seconds(60)))
      << State()["rollover"].dump(2) << "\n"
      << Logs();
  EXPECT_EQ(RoundTrip("after"), "after");
}

}  // namespace
}  // namespace palisade::testing
