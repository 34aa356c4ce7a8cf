// How the proxy behaves at the edges: before it has an identity, when it
// drains, when limits and timeouts hit, and when the app behind it is down.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/integration/proxy_fixture.h"
#include "tests/util/loopback.h"

namespace palisade::testing {
namespace {

std::string ReadToEof(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return out;
    out.append(buf, n);
  }
}

class ProxyRobustnessTest : public TwoHopMesh {};

TEST_F(ProxyRobustnessTest, HoldsOutboundConnectionsUntilTheFirstSvidArrives) {
  StartInbound();
  // The frontend's files hold an expired SVID: the proxy starts without an
  // identity (the store refuses it) and is not ready.
  CertSpec expired = pki_.LeafSpec("/ns/shop/sa/frontend");
  expired.not_before = absl::Now() - absl::Hours(2);
  expired.not_after = absl::Now() - absl::Hours(1);
  pki_.WriteFiles(dir_, "frontend", pki_.IssueLeaf(expired));
  const std::string yaml =
      absl::StrCat(IdentityYaml("frontend", kFrontendId, "  startup_hold: 20s\n"), R"(outbound:
  - name: out
    address: 127.0.0.1:0
    upstream: 127.0.0.1:)",
                   inbound_port_, R"(
    expected_peer:
      spiffe_id: ")",
                   kBackendId, "\"\n");
  auto proxy = ProxyProcess::Start(dir_, "outbound", absl::StrCat(yaml));
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  outbound_ = *std::move(proxy);
  EXPECT_EQ(HttpGet(outbound_->admin_url() + "/ready").status, 503);
  const uint16_t port = *outbound_->ListenerPort("out");

  const int fd = ConnectLoopback(port);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(send(fd, "early", 5, MSG_NOSIGNAL), 5);  // waits in the socket
  absl::SleepFor(absl::Milliseconds(300));
  // A valid SVID arrives; the held connection goes through.
  pki_.WriteFiles(dir_, "frontend", pki_.IssueLeaf("/ns/shop/sa/frontend"));
  ASSERT_TRUE(outbound_->WaitReady()) << outbound_->process().Output();
  shutdown(fd, SHUT_WR);
  EXPECT_EQ(ReadToEof(fd), "early");
  close(fd);
}

TEST_F(ProxyRobustnessTest, DrainLetsLiveConnectionsFinishThenExits) {
  StartInbound();
  StartOutbound();
  const int fd = ConnectLoopback(outbound_port_);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(send(fd, "a", 1, MSG_NOSIGNAL), 1);
  char c;
  ASSERT_EQ(recv(fd, &c, 1, 0), 1);

  outbound_->process().Signal(SIGTERM);
  // Not ready while draining; new connections are refused...
  EXPECT_TRUE(WaitFor(
      [&] {
        const int probe = ConnectLoopback(outbound_port_);
        if (probe < 0) return true;
        close(probe);
        return false;
      },
      absl::Seconds(5)));
  // ...but the live one still carries bytes until it ends.
  ASSERT_EQ(send(fd, "b", 1, MSG_NOSIGNAL), 1);
  ASSERT_EQ(recv(fd, &c, 1, 0), 1);
  EXPECT_EQ(c, 'b');
  shutdown(fd, SHUT_WR);
  EXPECT_EQ(ReadToEof(fd), "");
  close(fd);
  const auto status = outbound_->process().Wait(absl::Seconds(10));
  ASSERT_TRUE(status.has_value()) << "the proxy did not exit after its last connection";
  EXPECT_EQ(*status, 0);
}

TEST_F(ProxyRobustnessTest, DrainTimeoutClosesConnectionsThatDoNotEnd) {
  StartInbound();
  StartOutbound();  // drain_timeout: 5s in the fixture
  const int fd = ConnectLoopback(outbound_port_);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(send(fd, "a", 1, MSG_NOSIGNAL), 1);
  char c;
  ASSERT_EQ(recv(fd, &c, 1, 0), 1);
  const absl::Time start = absl::Now();
  outbound_->process().Signal(SIGTERM);
  EXPECT_EQ(ReadToEof(fd), "");  // closed by the proxy
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));
  close(fd);
  EXPECT_TRUE(outbound_->process().Wait(absl::Seconds(10)).has_value());
}

TEST_F(ProxyRobustnessTest, RefusesConnectionsBeyondTheListenerLimit) {
  StartInbound(R"(  - name: small
    address: 127.0.0.1:0
    forward_to: )" +
               echo_->address() + R"(
    limits:
      max_connections: 2
)");
  const uint16_t port = *inbound_->ListenerPort("small");
  // Plain TCP is enough: a connection counts from accept.
  std::vector<int> held;
  for (int i = 0; i < 2; ++i) held.push_back(ConnectLoopback(port));
  ASSERT_TRUE(WaitFor(
      [&] {
        return MetricSum(inbound_->Metrics(), "palisade_connections_active",
                         {{"listener", "small"}}) == 2;
      },
      absl::Seconds(5)));
  const int third = ConnectLoopback(port);
  ASSERT_GE(third, 0);
  char c;
  EXPECT_LE(recv(third, &c, 1, 0), 0);  // accepted and closed at once
  EXPECT_TRUE(WaitFor(
      [&] {
        return MetricSum(inbound_->Metrics(), "palisade_connections_refused_total",
                         {{"listener", "small"}, {"reason", "max_connections"}}) >= 1;
      },
      absl::Seconds(5)));
  close(third);
  for (int fd : held) close(fd);
}

TEST_F(ProxyRobustnessTest, ClosesIdleConnections) {
  StartInbound(R"(  - name: idle
    address: 127.0.0.1:0
    forward_to: )" +
               echo_->address() + R"(
    timeouts:
      handshake: 1s
)");
  const uint16_t port = *inbound_->ListenerPort("idle");
  // A TCP connection that never starts TLS hits the handshake timeout.
  const int fd = ConnectLoopback(port);
  ASSERT_GE(fd, 0);
  const absl::Time start = absl::Now();
  char c;
  EXPECT_LE(recv(fd, &c, 1, 0), 0);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  close(fd);
  EXPECT_TRUE(WaitFor(
      [&] {
        return MetricSum(inbound_->Metrics(), "palisade_handshakes_total",
                         {{"listener", "idle"}, {"reason", "timeout"}}) >= 1;
      },
      absl::Seconds(5)));
}

TEST_F(ProxyRobustnessTest, PublicPortServesOnlyTheReadOnlyEndpoints) {
  const std::string yaml = absl::StrCat(IdentityYaml("backend", kBackendId), R"(inbound:
  - name: in
    address: 127.0.0.1:0
    forward_to: )",
                                        echo_->address(), R"(
)");
  // admin.public_address goes into the admin section of the identity YAML.
  std::string with_public = yaml;
  with_public.replace(with_public.find("  address: 127.0.0.1:0\nruntime"),
                      std::string("  address: 127.0.0.1:0\n").size(),
                      "  address: 127.0.0.1:0\n  public_address: 127.0.0.2:0\n");
  // Port 0 on the public address: find it through the process log.
  auto proxy = ProxyProcess::Start(dir_, "public", with_public);
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  ASSERT_TRUE((*proxy)->WaitReady());
  std::string public_url;
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string log = (*proxy)->process().Output();
        const size_t at = log.find("health and metrics server up address=");
        if (at == std::string::npos) return false;
        const size_t start = at + std::string("health and metrics server up address=").size();
        public_url = "http://" + log.substr(start, log.find('\n', start) - start);
        return true;
      },
      absl::Seconds(10)));
  EXPECT_EQ(HttpGet(public_url + "/ready").status, 200);
  EXPECT_EQ(HttpGet(public_url + "/healthz").status, 200);
  EXPECT_NE(HttpGet(public_url + "/metrics").body.find("palisade_svid_info"), std::string::npos);
  EXPECT_EQ(HttpPost(public_url + "/drain").status, 404);
  EXPECT_EQ(HttpGet(public_url + "/config").status, 404);
  EXPECT_EQ(HttpGet(public_url + "/certs").status, 404);
}

TEST_F(ProxyRobustnessTest, AppThatIsDownClosesTheClientPromptlyAndTheProxyStaysUp) {
  StartInbound(R"(  - name: down
    address: 127.0.0.1:0
    forward_to: 127.0.0.1:1
    authorization:
      trust_domains: [cluster.local]
)");
  const uint16_t port = *inbound_->ListenerPort("down");
  const absl::Time start = absl::Now();
  const CommandResult r =
      RunCommand({"openssl", "s_client", "-connect", absl::StrCat("127.0.0.1:", port), "-cert",
                  dir_ + "/frontend.pem", "-cert_chain", dir_ + "/frontend.pem", "-key",
                  dir_ + "/frontend.key", "-quiet", "-ign_eof"},
                 absl::Seconds(10), "x\n");
  EXPECT_NE(r.exit_code, -1) << "the client was left hanging";
  EXPECT_LT(absl::Now() - start, absl::Seconds(8));
  EXPECT_TRUE(WaitFor(
      [&] {
        return MetricSum(
                   inbound_->Metrics(), "palisade_connection_errors_total",
                   {{"listener", "down"}, {"reason", "connect_refused"}, {"side", "upstream"}}) >=
               1;
      },
      absl::Seconds(5)))
      << inbound_->Metrics();
  EXPECT_EQ(HttpGet(inbound_->admin_url() + "/healthz").status, 200);
}

}  // namespace
}  // namespace palisade::testing
