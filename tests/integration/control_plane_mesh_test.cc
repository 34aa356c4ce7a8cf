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
#include "tests/integration/control_server_fixture.h"
#include "tests/util/loopback.h"
#include "tests/util/mesh_processes.h"
#include "tests/util/process.h"

namespace palisade::testing {
namespace {

constexpr char kFrontend[] = "spiffe://example.org/ns/shop/sa/frontend";
constexpr char kBackend[] = "spiffe://example.org/ns/shop/sa/backend";

class ControlPlaneMeshTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("control_plane_mesh");
    auto echo = EchoServer::Start(dir_, "echo", "echo");
    ASSERT_TRUE(echo.ok()) << echo.status();
    echo_ = *std::move(echo);
  }
  void TearDown() override {
    outbound_.reset();
    inbound_.reset();
    if (control_ != nullptr) {
      EXPECT_EQ(control_->process().Stop(), 0) << control_->process().Output();
    }
  }

  void StartControl(const std::vector<std::string>& flags = {}) {
    auto control = ControlProcess::Start(dir_, flags);
    ASSERT_TRUE(control.ok()) << control.status();
    control_ = *std::move(control);
  }

  // A single-use join token for `id`, in <dir>/<name>.token.
  void CreateToken(const std::string& name, const std::string& id) {
    const HttpResult r = HttpPost(control_->admin_url() + "/api/v1/tokens",
                                  nlohmann::json{{"spiffe_id", id}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(WriteFile(dir_ + "/" + name + ".token",
                          nlohmann::json::parse(r.body).value("token", "") + "\n"));
  }

  std::string IdentityYaml(const std::string& name, const std::string& id) {
    CreateToken(name, id);
    ControlPlaneIdentity identity;
    identity.spiffe_id = id;
    identity.control_address = control_->identity_address();
    identity.server_spiffe_id = "spiffe://example.org/palisade/control";
    identity.bootstrap_bundle_file = control_->state_dir() + "/bundle.pem";
    identity.join_token_file = dir_ + "/" + name + ".token";
    identity.instance_name = name;
    return ControlPlaneProxyYaml(identity);
  }

  void StartMesh() {
    auto inbound = ProxyProcess::Start(
        dir_, "inbound",
        absl::StrCat(
            IdentityYaml("backend", kBackend),
            "inbound:\n  - name: in\n    address: 127.0.0.1:0\n    forward_to: ", echo_->address(),
            "\n    authorization:\n      spiffe_ids: [\"", kFrontend, "\"]\n"));
    ASSERT_TRUE(inbound.ok()) << inbound.status();
    inbound_ = *std::move(inbound);
    ASSERT_TRUE(inbound_->WaitReady()) << inbound_->process().Output();
    auto outbound = ProxyProcess::Start(
        dir_, "outbound",
        absl::StrCat(IdentityYaml("frontend", kFrontend),
                     "outbound:\n  - name: out\n    address: 127.0.0.1:0\n    upstream: "
                     "127.0.0.1:",
                     *inbound_->ListenerPort("in"), "\n    expected_peer:\n      spiffe_id: \"",
                     kBackend, "\"\n"));
    ASSERT_TRUE(outbound.ok()) << outbound.status();
    outbound_ = *std::move(outbound);
    ASSERT_TRUE(outbound_->WaitReady()) << outbound_->process().Output();
  }

  int ConnectOut() { return ConnectLoopback(*outbound_->ListenerPort("out")); }

  std::string RoundTrip(const std::string& message) {
    const int fd = ConnectOut();
    if (fd < 0) return "connect failed";
    std::string reply = EchoExchange(fd, message);
    close(fd);
    return reply;
  }

  static nlohmann::json Certs(ProxyProcess& proxy) {
    return nlohmann::json::parse(HttpGet(proxy.admin_url() + "/certs").body, nullptr, false);
  }
  nlohmann::json State() {
    return nlohmann::json::parse(HttpGet(control_->admin_url() + "/api/v1/state").body, nullptr,
                                 false);
  }
  std::string Logs() {
    return absl::StrCat("--- palisade-control\n", control_->process().Output(), "\n--- inbound\n",
                        inbound_ ? inbound_->process().Output() : "", "\n--- outbound\n",
                        outbound_ ? outbound_->process().Output() : "");
  }

  std::string dir_;
  std::unique_ptr<ControlProcess> control_;
  std::unique_ptr<EchoServer> echo_;
  std::unique_ptr<ProxyProcess> inbound_;
  std::unique_ptr<ProxyProcess> outbound_;
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
  for (ProxyProcess* proxy : {inbound_.get(), outbound_.get()}) {
    EXPECT_EQ(MetricValue(proxy->Metrics(), "palisade_control_plane_connected"), 1);
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
  const HttpResult started = HttpPost(control_->admin_url() + "/api/v1/rollover/start", "{}");
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
  for (ProxyProcess* proxy : {inbound_.get(), outbound_.get()}) {
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
  const HttpResult started = HttpPost(control_->admin_url() + "/api/v1/rollover/start", "{}");
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
