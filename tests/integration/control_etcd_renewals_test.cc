// --renewals_without_store (issue 14, item 5): while etcd cannot be reached a
// replica serves renewals of registered identities by default; with
// `refuse` it refuses them with reason store_unavailable (counted in
// palisade_control_refusals_total) and serves them again once etcd returns.
// The flag is checked before anything is written, naming itself.
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "tests/integration/identity_stream.h"
#include "tests/util/control_process.h"
#include "tests/util/etcd_cluster.h"
#include "tests/util/process.h"
#include "tests/util/prometheus_text.h"
#include "tests/util/status_matchers.h"
#include "tests/util/subprocess.h"
#include "tests/util/test_pki.h"

namespace palisade::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kWorkload[] = "spiffe://example.org/ns/shop/sa/cart";

class ControlEtcdRenewalsTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTempDir("control-etcd-renewals"); }

  void StartEtcd() {
    ASSERT_OK_AND_ASSIGN(etcd_, EtcdCluster::Start(dir_ + "/etcd"));
    TestPki pki;
    WriteFileOrDie(dir_ + "/int.pem", PemOf({pki.intermediate().x509()}));
    WriteFileOrDie(dir_ + "/int.key", PemOf(pki.intermediate().key.get()));
    WriteFileOrDie(dir_ + "/roots.pem", pki.BundlePem());
  }

  std::vector<std::string> ReplicaFlags(const std::string& renewals) const {
    return {"--plugin_ca_cert=" + dir_ + "/int.pem",       "--plugin_ca_key=" + dir_ + "/int.key",
            "--plugin_root_bundle=" + dir_ + "/roots.pem", "--store=etcd",
            "--etcd_endpoints=" + etcd_->Endpoints(),      "--renewals_without_store=" + renewals};
  }

  double StoreRefusals(const ControlProcess& control) {
    return MetricSum(HttpGet(control.admin_url() + "/metrics").body,
                     "palisade_control_refusals_total", {{"reason", "store_unavailable"}});
  }

  // Every member down, then /ready says why (the replica noticed).
  void StopEtcd(const ControlProcess& control) {
    for (int i = 0; i < etcd_->size(); ++i) etcd_->KillMember(i);
    ASSERT_TRUE(WaitFor(
        [&] {
          const HttpResult ready = HttpGet(control.admin_url() + "/ready");
          return ready.status == 503 && absl::StrContains(ready.body, "store_unavailable");
        },
        absl::Seconds(15)));
  }

  void RestartEtcd(const ControlProcess& control) {
    for (int i = 0; i < etcd_->size(); ++i) ASSERT_OK(etcd_->RestartMember(i));
    ASSERT_OK(etcd_->WaitHealthy());
    ASSERT_TRUE(WaitFor([&] { return HttpGet(control.admin_url() + "/ready").status == 200; },
                        absl::Seconds(20)))
        << HttpGet(control.admin_url() + "/ready").body;
  }

  // A replica with --renewals_without_store=`mode`, and kWorkload's SVID
  // bootstrapped through it while etcd is up.
  void StartReplicaWithSvid(const std::string& mode, std::unique_ptr<ControlProcess>* control,
                            Svid* svid) {
    auto started = ControlProcess::Start(MakeTempDir("control-etcd-" + mode), ReplicaFlags(mode));
    ASSERT_OK(started.status());
    *control = *std::move(started);
    absl::StatusOr<nlohmann::json> token = (*control)->CreateJoinToken(kWorkload);
    ASSERT_OK(token.status());
    ASSERT_TRUE(
        BootstrapWith(**control, (*token)["token"].get<std::string>(), kWorkload, svid).ok());
  }

  std::string dir_;
  std::unique_ptr<EtcdCluster> etcd_;
};

TEST_F(ControlEtcdRenewalsTest, RefuseModeRefusesRenewalsWhileEtcdIsDownAndServesThemAfter) {
  StartEtcd();
  std::unique_ptr<ControlProcess> control;
  Svid svid;
  ASSERT_NO_FATAL_FAILURE(StartReplicaWithSvid("refuse", &control, &svid));
  ControlProcess& r1 = *control;
  ASSERT_TRUE(RenewsOverMtls(r1, svid, kWorkload));
  const double before = StoreRefusals(r1);

  StopEtcd(r1);
  EXPECT_FALSE(RenewsOverMtls(r1, svid, kWorkload)) << "a renewal was served without the store";
  EXPECT_EQ(StoreRefusals(r1), before + 1) << HttpGet(r1.admin_url() + "/metrics").body;
  EXPECT_THAT(r1.process().Output(), HasSubstr("store_unavailable"));

  RestartEtcd(r1);
  EXPECT_TRUE(RenewsOverMtls(r1, svid, kWorkload)) << r1.process().Output();
  EXPECT_EQ(StoreRefusals(r1), before + 1);
}

TEST_F(ControlEtcdRenewalsTest, ServeModeIsTheDefaultAndServesRenewalsWhileEtcdIsDown) {
  StartEtcd();
  std::unique_ptr<ControlProcess> control;
  Svid svid;
  ASSERT_NO_FATAL_FAILURE(StartReplicaWithSvid("serve", &control, &svid));
  ControlProcess& r1 = *control;
  StopEtcd(r1);
  EXPECT_TRUE(RenewsOverMtls(r1, svid, kWorkload)) << r1.process().Output();
  EXPECT_EQ(StoreRefusals(r1), 0);
}

TEST_F(ControlEtcdRenewalsTest, BadValueOrWithoutEtcdIsRefusedNamingTheFlag) {
  auto refused = [&](const std::vector<std::string>& extra, const std::string& problem) {
    SCOPED_TRACE(problem);
    std::vector<std::string> argv = {kControlBinary,
                                     "serve",
                                     "--trust_domain=example.org",
                                     "--state_dir=" + dir_ + "/state",
                                     "--listen=127.0.0.1:0",
                                     "--admin=127.0.0.1:0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    const CommandResult r = RunCommand(argv, absl::Seconds(10));
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_THAT(r.output, HasSubstr(problem));
  };
  // Port 1 on loopback has nothing behind it: refused before any dial.
  refused({"--store=etcd", "--etcd_endpoints=127.0.0.1:1", "--renewals_without_store=maybe"},
          "--renewals_without_store: must be serve or refuse, not \"maybe\"");
  refused({"--renewals_without_store=refuse"}, "--renewals_without_store: only with --store=etcd");
}

}  // namespace
}  // namespace palisade::testing
