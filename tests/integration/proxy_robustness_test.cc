// How the proxy behaves at the edges: before it has an identity, when it
// drains, when limits and timeouts hit, and when the app behind it is down.
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/integration/proxy_fixture.h"
#include "tests/util/loopback.h"
#include "tests/util/status_matchers.h"

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

// An mTLS client as `leaf`, connected and handshaken, held until destroyed.
class MtlsClient {
 public:
  MtlsClient(uint16_t port, const Credential& leaf, X509* intermediate)
      : ctx_(SSL_CTX_new(TLS_method())) {
    SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_NONE, nullptr);  // the proxy's identity: not here
    ssl_.reset(SSL_new(ctx_.get()));
    fd_ = ConnectLoopback(port, absl::Seconds(5));
    if (fd_ < 0 || !SSL_use_certificate(ssl_.get(), leaf.x509()) ||
        !SSL_use_PrivateKey(ssl_.get(), leaf.key.get()) ||
        !SSL_add1_chain_cert(ssl_.get(), intermediate)) {
      return;
    }
    SSL_set_fd(ssl_.get(), fd_);
    char c = 0;
    // An echoed byte: the proxy has verified the peer and reached the app.
    established_ = SSL_connect(ssl_.get()) == 1 && SSL_write(ssl_.get(), "x", 1) == 1 &&
                   SSL_read(ssl_.get(), &c, 1) == 1 && c == 'x';
  }
  ~MtlsClient() {
    if (fd_ >= 0) close(fd_);
  }
  bool established() const { return established_; }

 private:
  bssl::UniquePtr<SSL_CTX> ctx_;
  bssl::UniquePtr<SSL> ssl_;
  int fd_ = -1;
  bool established_ = false;
};

class ProxyRobustnessTest : public TwoHopMesh {};

TEST_F(ProxyRobustnessTest, HoldsOutboundConnectionsUntilTheFirstSvidArrives) {
  StartInbound();
  // The frontend's files hold an expired SVID: the proxy starts without an
  // identity (the store refuses it) and is not ready.
  CertSpec expired = pki().LeafSpec("/ns/shop/sa/frontend");
  expired.not_before = absl::Now() - absl::Hours(2);
  expired.not_after = absl::Now() - absl::Hours(1);
  pki().WriteFiles(dir(), "frontend", pki().IssueLeaf(expired));
  ProxyYaml config = IdentityConfig("frontend", kFrontendId);
  config.runtime.startup_hold = "20s";
  config.AddOutbound("out", absl::StrCat("127.0.0.1:", inbound_port_)).expected_peer.spiffe_id =
      kBackendId;
  ASSERT_OK_AND_ASSIGN(outbound_, mesh_.StartProxy("outbound", config));
  EXPECT_EQ(HttpGet(outbound_->admin_url() + "/ready").status, 503);
  const uint16_t port = *outbound_->ListenerPort("out");

  const int fd = ConnectLoopback(port);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(send(fd, "early", 5, MSG_NOSIGNAL), 5);  // waits in the socket
  // The proxy has accepted it and holds it, with no identity yet.
  ASSERT_TRUE(outbound_->WaitForMetricSum("palisade_connections_active", {{"listener", "out"}}, 1))
      << outbound_->Metrics();
  EXPECT_EQ(HttpGet(outbound_->admin_url() + "/ready").status, 503);
  // A valid SVID arrives; the held connection goes through.
  pki().WriteFiles(dir(), "frontend", pki().IssueLeaf("/ns/shop/sa/frontend"));
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
  ProxyYaml config = InboundConfig();
  config.AddInbound("small", echo_->address()).limits.max_connections = 2;
  StartInbound(config);
  const uint16_t port = *inbound_->ListenerPort("small");
  // A connection counts once its mTLS handshake is done (silent ones are
  // bounded apart, see proxy_pending_handshakes_test): two established.
  const Credential leaf = pki().IssueLeaf("/ns/shop/sa/frontend");
  std::vector<std::unique_ptr<MtlsClient>> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(std::make_unique<MtlsClient>(port, leaf, pki().intermediate().x509()));
    ASSERT_TRUE(held.back()->established());
  }
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
}

TEST_F(ProxyRobustnessTest, ClosesIdleConnections) {
  ProxyYaml config = InboundConfig();
  config.AddInbound("idle", echo_->address()).timeouts.handshake = "1s";
  StartInbound(config);
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
  ProxyYaml config = IdentityConfig("backend", kBackendId);
  config.admin.public_address = "127.0.0.2:0";
  config.AddInbound("in", echo_->address());
  // Port 0 on the public address: find it through the process log.
  ASSERT_OK_AND_ASSIGN(ProxyProcess * proxy, mesh_.StartReadyProxy("public", config));
  std::string public_url;
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string log = proxy->process().Output();
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
  ProxyYaml config = InboundConfig();
  config.AddInbound("down", "127.0.0.1:1").authorization.trust_domains = {kTrustDomain};
  StartInbound(config);
  const uint16_t port = *inbound_->ListenerPort("down");
  const absl::Time start = absl::Now();
  const CommandResult r =
      RunCommand({"openssl", "s_client", "-connect", absl::StrCat("127.0.0.1:", port), "-cert",
                  dir() + "/frontend.pem", "-cert_chain", dir() + "/frontend.pem", "-key",
                  dir() + "/frontend.key", "-quiet", "-ign_eof"},
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
