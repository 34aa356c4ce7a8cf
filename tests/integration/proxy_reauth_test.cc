// Long-lived connections do not outlive their trust: a policy that no longer
// allows the peer (reloaded with SIGHUP) and a root that leaves the bundle
// close them gracefully, and only them. A reload that does not load changes
// nothing.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "tests/integration/proxy_fixture.h"
#include "tests/util/loopback.h"

namespace palisade::testing {
namespace {

// Sends one byte and reads it back; false once the connection has ended.
bool Alive(int fd) {
  if (send(fd, "x", 1, MSG_NOSIGNAL) != 1) return false;
  char c;
  return recv(fd, &c, 1, 0) == 1;
}

class ProxyReauthTest : public TwoHopMesh {
 protected:
  // The inbound proxy's config with a short grace period (set from the
  // start: a reload that changes it is refused, as it needs a restart).
  ProxyYaml ShortGrace() const {
    ProxyYaml config = InboundConfig();
    config.reauthentication.grace_period = "1s";
    return config;
  }
  // The running inbound proxy's config, on the same ports, with "in"
  // allowing `allowed`.
  std::string InboundYaml(const std::string& allowed) {
    ProxyYaml config = ShortGrace();
    config.inbound[0].address = absl::StrCat("127.0.0.1:", inbound_port_);
    config.inbound[0].authorization.spiffe_ids = {allowed};
    config.inbound[1].address = absl::StrCat("127.0.0.1:", inbound_http_port_);
    return config.ToString();
  }

  bool ClosedWithin(int fd, absl::Duration limit) {
    return WaitFor([&] { return !Alive(fd); }, limit, absl::Milliseconds(100));
  }
};

TEST_F(ProxyReauthTest, PolicyThatNoLongerAllowsThePeerClosesItsConnectionOnReload) {
  StartInbound(ShortGrace());
  StartOutbound();
  const int fd = ConnectLoopback(outbound_port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(Alive(fd));
  // Same listeners and ports; "in" now allows someone else.
  ASSERT_TRUE(WriteFile(inbound_->config_path(),
                        InboundYaml("spiffe://cluster.local/ns/shop/sa/someone-else")));
  inbound_->process().Signal(SIGHUP);
  EXPECT_TRUE(ClosedWithin(fd, absl::Seconds(10)));
  close(fd);
  EXPECT_TRUE(WaitFor(
      [&] {
        return MetricSum(inbound_->Metrics(), "palisade_connection_errors_total",
                         {{"listener", "in"}, {"reason", "policy_changed"}}) >= 1;
      },
      absl::Seconds(5)))
      << inbound_->Metrics();
  // New connections follow the new policy too.
  const int again = ConnectLoopback(outbound_port_);
  ASSERT_GE(again, 0);
  EXPECT_FALSE(Alive(again));
  close(again);
}

TEST_F(ProxyReauthTest, ReloadThatStillAllowsThePeerKeepsTheConnection) {
  StartInbound(ShortGrace());
  StartOutbound();
  const int fd = ConnectLoopback(outbound_port_);
  ASSERT_TRUE(Alive(fd));
  ASSERT_TRUE(WriteFile(inbound_->config_path(), InboundYaml(kFrontendId)));
  inbound_->process().Signal(SIGHUP);
  ASSERT_TRUE(WaitFor(
      [&] {
        return inbound_->process().Output().find("configuration reloaded") != std::string::npos;
      },
      absl::Seconds(10)));
  EXPECT_TRUE(Alive(fd));
  close(fd);
}

TEST_F(ProxyReauthTest, ReloadOfABrokenConfigChangesNothing) {
  StartInbound();
  StartOutbound();
  const int fd = ConnectLoopback(outbound_port_);
  ASSERT_TRUE(Alive(fd));
  ASSERT_TRUE(WriteFile(inbound_->config_path(), "inbound: [ {name: broken\n"));
  inbound_->process().Signal(SIGHUP);
  ASSERT_TRUE(WaitFor(
      [&] { return inbound_->process().Output().find("reload refused") != std::string::npos; },
      absl::Seconds(10)))
      << inbound_->process().Output();
  EXPECT_TRUE(Alive(fd));
  const int again = ConnectLoopback(outbound_port_);
  EXPECT_TRUE(Alive(again));
  close(again);
  close(fd);
}

TEST_F(ProxyReauthTest, RootLeavingTheBundleClosesOnlyConnectionsVerifiedThroughIt) {
  // Both proxies trust roots A (the fixture's) and B, with SVIDs from A.
  TestPki::Options options;
  options.trust_domain = kTrustDomain;
  TestPki next(options);
  const std::string both = pki().BundlePem() + next.BundlePem();
  ASSERT_TRUE(WriteFile(dir() + "/bundle.pem", both));
  StartInbound();
  StartOutbound();
  const int on_a = ConnectLoopback(outbound_port_);
  ASSERT_TRUE(Alive(on_a));

  // Re-key both to B (the bundle still holds A): the connection on A lives on.
  auto install = [&](const TestPki& pki, const std::string& name, const std::string& path,
                     const std::string& bundle) {
    const std::string staging = MakeTempDir("staging");
    pki.WriteFiles(staging, name, pki.IssueLeaf(path));
    WriteFileOrDie(staging + "/bundle.pem", bundle);
    for (const std::string& f : {name + ".key", name + ".pem", std::string("bundle.pem")}) {
      ASSERT_EQ(std::rename((staging + "/" + f).c_str(), (dir() + "/" + f).c_str()), 0);
    }
  };
  const std::string before = HttpGet(inbound_->admin_url() + "/certs").body;
  install(next, "backend", "/ns/shop/sa/backend", both);
  install(next, "frontend", "/ns/shop/sa/frontend", both);
  ASSERT_TRUE(WaitFor(
      [&] {
        return MetricSum(inbound_->Metrics(), "palisade_svid_rotations_total") >= 1 &&
               MetricSum(outbound_->Metrics(), "palisade_svid_rotations_total") >= 1;
      },
      absl::Seconds(10)));
  const int on_b = ConnectLoopback(outbound_port_);
  ASSERT_TRUE(Alive(on_b));
  EXPECT_TRUE(Alive(on_a));

  // Root A leaves both bundles: only the connection verified through A ends.
  ASSERT_TRUE(WriteFile(dir() + "/bundle.pem.new", next.BundlePem()));
  ASSERT_EQ(std::rename((dir() + "/bundle.pem.new").c_str(), (dir() + "/bundle.pem").c_str()), 0);
  EXPECT_TRUE(ClosedWithin(on_a, absl::Seconds(10)));
  EXPECT_TRUE(Alive(on_b));
  EXPECT_GE(MetricSum(inbound_->Metrics() + outbound_->Metrics(),
                      "palisade_connection_errors_total", {{"reason", "root_removed"}}),
            1);
  close(on_a);
  close(on_b);
}

}  // namespace
}  // namespace palisade::testing
