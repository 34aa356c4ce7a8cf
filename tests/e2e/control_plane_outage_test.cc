// Control-plane outages with real processes: palisade-control killed with
// SIGKILL and brought back on the same state and port, two palisade-proxies
// that get their SVIDs from it (with the default reconnect backoff, up to
// 30 s, as in production), an echo backend, and checked traffic throughout.
#include <gtest/gtest.h>

#include <atomic>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/util/echo_load.h"
#include "tests/util/loopback.h"
#include "tests/util/mesh_fixture.h"
#include "tests/util/process.h"
#include "tests/util/prometheus_text.h"
#include "tests/util/status_matchers.h"

namespace palisade::testing {
namespace {

constexpr char kFrontendId[] = "spiffe://cluster.local/ns/shop/sa/frontend";
constexpr char kBackendId[] = "spiffe://cluster.local/ns/shop/sa/backend";

class ControlPlaneOutageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A fixed identity port: the proxies must find the control plane again.
    control_port_ = PickFreeLoopbackPort();
    ASSERT_OK_AND_ASSIGN(echo_, mesh_.StartBackend("echo"));
  }

  void StartControlPlane(const std::string& ttl) {
    ttl_flag_ = "--svid_ttl=" + ttl;
    ASSERT_OK(mesh_.StartControl({ttl_flag_, absl::StrCat("--listen=127.0.0.1:", control_port_)}));
  }

  // Control-plane identity with a join token and the production backoff.
  absl::StatusOr<ProxyYaml> Config(const std::string& name, const std::string& id) {
    absl::StatusOr<ProxyYaml> config = mesh_.ControlPlaneConfig(name, id);
    if (!config.ok()) return config.status();
    config->identity.control_plane->initial_backoff.clear();
    config->identity.control_plane->max_backoff.clear();
    return config;
  }

  void StartProxies() {
    ASSERT_OK_AND_ASSIGN(ProxyYaml backend, Config("backend", kBackendId));
    backend.AddInbound("in", echo_->address()).authorization.spiffe_ids = {kFrontendId};
    ASSERT_OK_AND_ASSIGN(backend_, mesh_.StartReadyProxy("backend", backend));
    ASSERT_OK_AND_ASSIGN(ProxyYaml frontend, Config("frontend", kFrontendId));
    frontend.AddOutbound("out", absl::StrCat("127.0.0.1:", *backend_->ListenerPort("in")))
        .expected_peer.spiffe_id = kBackendId;
    ASSERT_OK_AND_ASSIGN(frontend_, mesh_.StartReadyProxy("frontend", frontend));
    port_ = *frontend_->ListenerPort("out");
  }

  // True once `proxy` installed an SVID less than `age` ago.
  bool Fresh(ProxyProcess& proxy, absl::Duration age) {
    const nlohmann::json c = proxy.Certs();
    absl::Time loaded;
    std::string error;
    return !c.is_discarded() &&
           absl::ParseTime(absl::RFC3339_full, c.value("loaded_at", ""), &loaded, &error) &&
           absl::Now() - loaded < age;
  }

  MeshFixture mesh_{{.trust_domain = "cluster.local", .dir_prefix = "outage"}};
  int control_port_ = 0;
  std::string ttl_flag_;
  EchoBackend* echo_ = nullptr;
  ProxyProcess* backend_ = nullptr;
  ProxyProcess* frontend_ = nullptr;
  uint16_t port_ = 0;
};

// The finding this reproduces: with a 60 s SVID, a 30 s outage that began
// when a renewal fell due cost the proxy its identity, because the backoff
// scheduled the next attempt past notAfter. Here: 30 s SVIDs (renewal due
// about 15 s in), the control plane gone for 20 s from just after both
// proxies renewed, so each renewal falls due inside the outage with 10 s of
// life left after it.
TEST_F(ControlPlaneOutageTest, ARenewalDueDuringAnOutageShorterThanTheLifeStillHappensInTime) {
  StartControlPlane("30s");
  StartProxies();
  ASSERT_FALSE(HasFatalFailure()) << "the proxies did not start";
  ASSERT_TRUE(WaitFor(
      [&] { return Fresh(*frontend_, absl::Seconds(3)) && Fresh(*backend_, absl::Seconds(3)); },
      absl::Seconds(90), absl::Milliseconds(200)));
  const std::string frontend_serial = frontend_->Certs()["svid"]["serial"];
  const std::string backend_serial = backend_->Certs()["svid"]["serial"];

  LoadResult load;
  std::atomic<bool> stop{false};
  std::thread traffic([&] { RunLoad(port_, /*reconnect=*/false, &stop, &load); });
  mesh_.KillControl();
  // Kept as a sleep: the outage's length is the scenario under test.
  absl::SleepFor(absl::Seconds(20));
  const absl::Time back = absl::Now();
  StartControlPlane("30s");
  // Both renew from the returned control plane before their SVIDs run out.
  bool renewed = WaitFor(
      [&] {
        return frontend_->Certs()["svid"]["serial"] != frontend_serial &&
               backend_->Certs()["svid"]["serial"] != backend_serial;
      },
      absl::Seconds(15), absl::Milliseconds(100));
  const absl::Duration to_renew = absl::Now() - back;
  stop = true;
  traffic.join();
  ASSERT_TRUE(renewed) << mesh_.Logs();
  std::cout << "renewed " << absl::FormatDuration(to_renew)
            << " after the control plane returned; load: " << Describe(load) << "\n";
  RecordProperty("renewed_after_return_ms", static_cast<int>(absl::ToInt64Milliseconds(to_renew)));

  EXPECT_GT(load.new_ok.load(), 100);
  EXPECT_EQ(load.new_failed.load(), 0);
  EXPECT_GT(load.stream_requests.load(), 100);
  EXPECT_EQ(load.stream_failures.load(), 0);
  EXPECT_EQ(load.lost_requests.load(), 0);
  EXPECT_EQ(load.corrupted.load(), 0);
  // Never without a valid identity: nothing refused for an expired SVID.
  for (ProxyProcess* proxy : {frontend_, backend_}) {
    const std::string metrics = proxy->Metrics();
    EXPECT_EQ(
        MetricSum(metrics, "palisade_connections_refused_total", {{"reason", "identity_expired"}}),
        0);
    EXPECT_EQ(MetricSum(metrics, "palisade_handshakes_total", {{"reason", "identity_expired"}}), 0);
  }
}

}  // namespace
}  // namespace palisade::testing
