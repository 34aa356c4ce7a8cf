// Control-plane failover with real processes (issue 14, item 6): two
// palisade-control replicas that share one plug-in CA (the mesh's test PKI,
// separate state directories), a palisade-proxy given both addresses, a
// backend proxy with file identity and an echo backend, checked traffic
// throughout. The replica the proxy is on is killed with SIGKILL; the proxy
// must be on the other one within 5 s and keep renewing there.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/util/control_process.h"
#include "tests/util/echo_load.h"
#include "tests/util/mesh_fixture.h"
#include "tests/util/process.h"
#include "tests/util/prometheus_text.h"
#include "tests/util/status_matchers.h"
#include "tests/util/test_pki.h"

namespace palisade::testing {
namespace {

constexpr char kFrontendId[] = "spiffe://cluster.local/ns/shop/sa/frontend";
constexpr char kBackendId[] = "spiffe://cluster.local/ns/shop/sa/backend";

class ControlPlaneFailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The shared plug-in CA: the mesh PKI's intermediate, its root the bundle.
    const TestPki& pki = mesh_.pki();
    const std::string dir = mesh_.dir();
    ASSERT_TRUE(WriteFile(dir + "/ca.pem", PemOf({pki.intermediate().x509()})));
    ASSERT_TRUE(WriteFile(dir + "/ca.key", PemOf(pki.intermediate().key.get())));
    ASSERT_TRUE(WriteFile(dir + "/roots.pem", pki.BundlePem()));
    const std::vector<std::string> flags = {
        "--trust_domain=cluster.local", "--plugin_ca_cert=" + dir + "/ca.pem",
        "--plugin_ca_key=" + dir + "/ca.key", "--plugin_root_bundle=" + dir + "/roots.pem",
        "--svid_ttl=8s"};
    for (const char* name : {"replica-a", "replica-b"}) {
      const std::string replica_dir = dir + "/" + name;
      ASSERT_EQ(::mkdir(replica_dir.c_str(), 0700), 0);
      ASSERT_OK_AND_ASSIGN(std::unique_ptr<ControlProcess> replica,
                           ControlProcess::Start(replica_dir, flags));
      replicas_.push_back(std::move(replica));
    }
    ASSERT_OK_AND_ASSIGN(EchoBackend * echo, mesh_.StartBackend("echo"));

    // The backend proxy has file identity from the same root.
    mesh_.WriteSvid("backend", "/ns/shop/sa/backend");
    ProxyYaml backend = mesh_.FileIdentityConfig("backend", kBackendId);
    backend.AddInbound("in", echo->address()).authorization.spiffe_ids = {kFrontendId};
    ASSERT_OK_AND_ASSIGN(ProxyProcess * backend_proxy, mesh_.StartReadyProxy("backend", backend));

    // The frontend knows both replicas; its join token is made on the first.
    ASSERT_OK_AND_ASSIGN(nlohmann::json token, replicas_[0]->CreateJoinToken(kFrontendId));
    const std::string token_file = dir + "/frontend.token";
    ASSERT_TRUE(WriteFile(token_file, token["token"].get<std::string>() + "\n"));
    ProxyYaml frontend = mesh_.BaseConfig();
    frontend.identity.spiffe_id = kFrontendId;
    ProxyYaml::ControlPlane& cp = frontend.identity.control_plane.emplace();
    cp.address = replicas_[0]->identity_address();
    cp.addresses = {replicas_[1]->identity_address()};
    cp.server_spiffe_id = replicas_[0]->server_spiffe_id();
    cp.bootstrap_bundle_file = dir + "/roots.pem";
    cp.join_token_file = token_file;
    cp.instance_name = "frontend";
    // Long enough that a failover within 5 s cannot come from backing off.
    cp.initial_backoff = "3s";
    cp.max_backoff = "10s";
    frontend.AddOutbound("out", absl::StrCat("127.0.0.1:", *backend_proxy->ListenerPort("in")))
        .expected_peer.spiffe_id = kBackendId;
    ASSERT_OK_AND_ASSIGN(frontend_, mesh_.StartReadyProxy("frontend", frontend));
    port_ = *frontend_->ListenerPort("out");
  }

  // palisade_control_streams_connected of replica `i` (-1 when unreadable).
  double Streams(size_t i) {
    const std::optional<double> v = MetricValue(
        HttpGet(replicas_[i]->admin_url() + "/metrics").body, "palisade_control_streams_connected");
    return v.value_or(-1);
  }
  std::string Serial() { return frontend_->Certs()["svid"].value("serial", ""); }

  std::string Logs() {
    std::string logs = mesh_.Logs();
    for (const auto& replica : replicas_) {
      absl::StrAppend(&logs, "\n--- ", replica->state_dir(), "\n", replica->process().Output());
    }
    return logs;
  }

  MeshFixture mesh_{{.trust_domain = "cluster.local", .dir_prefix = "failover"}};
  std::vector<std::unique_ptr<ControlProcess>> replicas_;
  ProxyProcess* frontend_ = nullptr;
  uint16_t port_ = 0;
};

TEST_F(ControlPlaneFailoverTest, AProxyWhoseReplicaDiesIsOnTheOtherWithinFiveSecondsAndRenews) {
  // Bootstrapped on replica a (its join token), then on a stream with its SVID.
  ASSERT_TRUE(WaitFor([&] { return Streams(0) == 1 && Streams(1) == 0; }, absl::Seconds(10),
                      absl::Milliseconds(100)))
      << "a: " << Streams(0) << " b: " << Streams(1) << "\n"
      << Logs();
  const std::string metrics_before = frontend_->Metrics();
  EXPECT_EQ(MetricSum(metrics_before, "palisade_identity_client_failovers_total"), 0);
  EXPECT_EQ(MetricValue(metrics_before, "palisade_identity_client_control_plane",
                        {{"address", replicas_[0]->identity_address()}}),
            1);

  LoadResult load;
  std::atomic<bool> stop{false};
  std::thread traffic([&] { RunLoad(port_, /*reconnect=*/false, &stop, &load); });
  absl::SleepFor(absl::Seconds(1));  // traffic established before the kill

  const std::string serial = Serial();
  replicas_[0]->process().Kill();
  const absl::Time killed = absl::Now();
  const bool moved =
      WaitFor([&] { return Streams(1) == 1; }, absl::Seconds(5), absl::Milliseconds(50));
  const absl::Duration to_move = absl::Now() - killed;
  // A renewal from replica b: an SVID issued after the failover (8 s SVIDs
  // renew about every 4 s).
  const bool renewed = moved && WaitFor([&] { return Serial() != serial; }, absl::Seconds(10),
                                        absl::Milliseconds(100));
  const std::string renewed_serial = Serial();
  const bool renewed_again = renewed && WaitFor([&] { return Serial() != renewed_serial; },
                                                absl::Seconds(10), absl::Milliseconds(100));
  stop = true;
  traffic.join();
  std::cout << "on replica b " << absl::FormatDuration(to_move)
            << " after replica a was killed; load: " << Describe(load) << "\n";
  RecordProperty("failover_ms", static_cast<int>(absl::ToInt64Milliseconds(to_move)));
  ASSERT_TRUE(moved) << "b: " << Streams(1) << "\n" << Logs();
  EXPECT_TRUE(renewed) << Logs();
  EXPECT_TRUE(renewed_again) << Logs();

  const std::string metrics = frontend_->Metrics();
  EXPECT_EQ(MetricSum(metrics, "palisade_identity_client_failovers_total"), 1);
  EXPECT_EQ(MetricValue(metrics, "palisade_identity_client_control_plane",
                        {{"address", replicas_[1]->identity_address()}}),
            1);
  // Replica b issued it: its renewal counter moved.
  EXPECT_GE(MetricSum(HttpGet(replicas_[1]->admin_url() + "/metrics").body,
                      "palisade_control_certificates_issued_total", {{"kind", "renewal"}}),
            1);
  // Never without a valid identity, and no established connection failed.
  EXPECT_EQ(
      MetricSum(metrics, "palisade_connections_refused_total", {{"reason", "identity_expired"}}),
      0);
  // Traffic flowed throughout (fewer under ASan), and none of it failed.
  EXPECT_GT(load.new_ok.load(), 20);
  EXPECT_EQ(load.new_failed.load(), 0);
  EXPECT_GT(load.stream_requests.load(), 50);
  EXPECT_EQ(load.stream_failures.load(), 0);
  EXPECT_EQ(load.lost_requests.load(), 0);
  EXPECT_EQ(load.corrupted.load(), 0);
}

}  // namespace
}  // namespace palisade::testing
