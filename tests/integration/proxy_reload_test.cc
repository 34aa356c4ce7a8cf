// A full reload of a real proxy's configuration (SIGHUP or POST /reload):
// listeners added to the file start serving, removed ones stop accepting and
// drain their connections, changed ones take effect for new connections on
// the same socket, and the other listeners' connections never notice. A file
// that does not load, or that changes what needs a restart, changes nothing
// and the answer names the field. Each outcome is counted.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/sha.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/integration/proxy_fixture.h"
#include "tests/util/loopback.h"
#include "tests/util/status_matchers.h"

namespace palisade::testing {
namespace {

std::string Sha256(const std::string& data) {
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const uint8_t*>(data.data()), data.size(), digest);
  return std::string(reinterpret_cast<char*>(digest), sizeof(digest));
}

// `size` incompressible bytes from `seed` (xorshift).
std::string Payload(size_t size, uint64_t seed) {
  std::string out(size, '\0');
  uint64_t x = seed | 1;
  for (size_t i = 0; i < size; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(&out[i], &x, std::min<size_t>(8, size - i));
  }
  return out;
}

// Sends `size` bytes through an echo path on `fd` (a reader thread takes them
// back as they come) and says whether the same bytes returned.
bool ChecksummedRoundTrip(int fd, size_t size, uint64_t seed) {
  const std::string payload = Payload(size, seed);
  std::string echoed;
  std::thread reader([&] {
    char buffer[65536];
    while (echoed.size() < size) {
      const ssize_t n = recv(fd, buffer, std::min(sizeof(buffer), size - echoed.size()), 0);
      if (n <= 0) return;
      echoed.append(buffer, static_cast<size_t>(n));
    }
  });
  size_t sent = 0;
  while (sent < size) {
    const ssize_t n = send(fd, payload.data() + sent, size - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  reader.join();
  return sent == size && echoed.size() == size && Sha256(echoed) == Sha256(payload);
}

// Sends one byte and reads it back; false once the connection has ended.
bool Alive(int fd) {
  if (send(fd, "x", 1, MSG_NOSIGNAL) != 1) return false;
  char c;
  return recv(fd, &c, 1, 0) == 1;
}

bool Refused(uint16_t port) {
  const int fd = ConnectLoopback(port, absl::Seconds(5));
  if (fd < 0) return true;
  close(fd);
  return false;
}

class ProxyReloadTest : public TwoHopMesh {
 protected:
  // The frontend proxy: one outbound listener per (name, inbound port),
  // each expecting the backend.
  ProxyYaml Frontend(const std::vector<std::pair<std::string, uint16_t>>& listeners) const {
    ProxyYaml config = IdentityConfig("frontend", kFrontendId);
    config.reauthentication.grace_period = "1s";
    for (const auto& [name, port] : listeners) {
      config.AddOutbound(name, absl::StrCat("127.0.0.1:", port)).expected_peer.spiffe_id =
          kBackendId;
    }
    return config;
  }
  // The backend proxy: the fixture's "in" and "in-http".
  ProxyYaml Backend() const {
    ProxyYaml config = InboundConfig();
    config.reauthentication.grace_period = "1s";
    return config;
  }
  void StartFrontend(const ProxyYaml& config) {
    ASSERT_OK_AND_ASSIGN(outbound_, mesh_.StartReadyProxy("outbound", config));
  }
  static void Rewrite(ProxyProcess& proxy, const ProxyYaml& config) {
    ASSERT_TRUE(WriteFile(proxy.config_path(), config.ToString()));
  }
  static HttpResult PostReload(ProxyProcess& proxy) {
    return HttpPostJson(proxy.admin_url() + "/reload", "");
  }
  // The port of `listener` once the proxy lists it; 0 if it never does.
  static uint16_t WaitListener(ProxyProcess& proxy, const std::string& listener) {
    uint16_t port = 0;
    WaitFor(
        [&] {
          absl::StatusOr<uint16_t> p = proxy.ListenerPort(listener);
          if (p.ok()) port = *p;
          return p.ok();
        },
        absl::Seconds(10), absl::Milliseconds(100));
    return port;
  }
  static double Reloads(ProxyProcess& proxy, const std::string& result) {
    return MetricSum(proxy.Metrics(), "palisade_config_reloads_total", {{"result", result}});
  }
};

TEST_F(ProxyReloadTest, ListenersAddedToTheFileServeAfterSighup) {
  StartInbound(Backend());
  ASSERT_NO_FATAL_FAILURE(StartFrontend(Frontend({{"out", inbound_port_}})));

  ProxyYaml backend = Backend();
  backend.AddInbound("in2", echo_->address()).authorization.spiffe_ids = {kFrontendId};
  Rewrite(*inbound_, backend);
  inbound_->process().Signal(SIGHUP);
  const uint16_t in2 = WaitListener(*inbound_, "in2");
  ASSERT_NE(in2, 0) << "the added inbound listener never appeared\n"
                    << inbound_->process().Output();
  EXPECT_TRUE(inbound_->WaitForLog("in2"));

  Rewrite(*outbound_, Frontend({{"out", inbound_port_}, {"out2", in2}}));
  outbound_->process().Signal(SIGHUP);
  const uint16_t out2 = WaitListener(*outbound_, "out2");
  ASSERT_NE(out2, 0) << outbound_->process().Output();

  // End to end through both added listeners: out2 -> mTLS -> in2 -> echo.
  const int fd = ConnectLoopback(out2);
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(ChecksummedRoundTrip(fd, 1 << 20, 1));
  close(fd);
  // The listener that was there all along still serves.
  const int old = ConnectLoopback(outbound_->ListenerPort("out").value_or(0));
  ASSERT_GE(old, 0);
  EXPECT_TRUE(ChecksummedRoundTrip(old, 256 << 10, 2));
  close(old);
  EXPECT_EQ(Reloads(*inbound_, "ok"), 1);
  EXPECT_EQ(Reloads(*outbound_, "ok"), 1);
  EXPECT_GT(
      MetricSum(outbound_->Metrics(), "palisade_config_last_reload_success_timestamp_seconds"), 0);
}

TEST_F(ProxyReloadTest, ListenerAddedThroughPostReloadServesWhenTheAnswerComes) {
  StartInbound(Backend());
  ASSERT_NO_FATAL_FAILURE(StartFrontend(Frontend({{"out", inbound_port_}})));
  Rewrite(*outbound_, Frontend({{"out", inbound_port_}, {"out2", inbound_port_}}));
  const HttpResult r = PostReload(*outbound_);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("out2"), std::string::npos) << r.body;
  // Listed as soon as the answer came: no waiting.
  absl::StatusOr<uint16_t> out2 = outbound_->ListenerPort("out2");
  ASSERT_TRUE(out2.ok()) << out2.status();
  const int fd = ConnectLoopback(*out2);
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(ChecksummedRoundTrip(fd, 1 << 20, 3));
  close(fd);
  EXPECT_EQ(Reloads(*outbound_, "ok"), 1);
}

TEST_F(ProxyReloadTest, RemovedListenerDrainsItsConnectionAndLeavesTheOthersAlone) {
  StartInbound(Backend());
  ASSERT_NO_FATAL_FAILURE(
      StartFrontend(Frontend({{"out", inbound_port_}, {"out2", inbound_port_}})));
  const uint16_t out = outbound_->ListenerPort("out").value_or(0);
  const uint16_t out2 = outbound_->ListenerPort("out2").value_or(0);
  const int kept = ConnectLoopback(out);
  const int removed = ConnectLoopback(out2);
  ASSERT_GE(kept, 0);
  ASSERT_GE(removed, 0);
  ASSERT_TRUE(ChecksummedRoundTrip(kept, 256 << 10, 4));
  ASSERT_TRUE(ChecksummedRoundTrip(removed, 256 << 10, 5));

  Rewrite(*outbound_, Frontend({{"out", inbound_port_}}));
  const HttpResult r = PostReload(*outbound_);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("out2"), std::string::npos) << r.body;
  // No new connection; the one it had goes on carrying bytes until the drain
  // asks it to finish (the drain timeout is 5 s: from 2.5 s on).
  EXPECT_TRUE(Refused(out2));
  EXPECT_TRUE(ChecksummedRoundTrip(removed, 256 << 10, 6));
  EXPECT_FALSE(outbound_->ListenerPort("out2").ok());
  // Then it ends with a clean close (every byte delivered), not a reset.
  ssize_t last = -1;
  EXPECT_TRUE(WaitFor(
      [&] {
        char c;
        last = recv(removed, &c, 1, MSG_DONTWAIT);
        return last == 0 || (last < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
      },
      absl::Seconds(15), absl::Milliseconds(50)));
  EXPECT_EQ(last, 0) << "the drained connection was reset: " << std::strerror(errno);
  close(removed);
  // The other listener's connection never noticed.
  EXPECT_TRUE(ChecksummedRoundTrip(kept, 256 << 10, 7));
  close(kept);
}

TEST_F(ProxyReloadTest, ChangedAuthorizationAppliesOnTheSameSocket) {
  StartInbound(Backend());
  StartOutbound();
  const int fd = ConnectLoopback(outbound_port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(Alive(fd));
  const int other = ConnectLoopback(outbound_http_port_);
  ASSERT_GE(other, 0);

  ProxyYaml denying = Backend();
  denying.inbound[0].authorization.spiffe_ids = {"spiffe://cluster.local/ns/shop/sa/someone-else"};
  Rewrite(*inbound_, denying);
  inbound_->process().Signal(SIGHUP);
  // The live connection whose peer is no longer allowed closes; new ones fail.
  EXPECT_TRUE(WaitFor([&] { return !Alive(fd); }, absl::Seconds(10), absl::Milliseconds(100)));
  close(fd);
  const int denied = ConnectLoopback(outbound_port_);
  ASSERT_GE(denied, 0);
  EXPECT_FALSE(Alive(denied));
  close(denied);
  EXPECT_EQ(inbound_->ListenerPort("in").value_or(0), inbound_port_) << "the socket was kept";

  Rewrite(*inbound_, Backend());
  const HttpResult r = PostReload(*inbound_);
  ASSERT_EQ(r.status, 200) << r.body;
  const int again = ConnectLoopback(outbound_port_);
  ASSERT_GE(again, 0);
  EXPECT_TRUE(ChecksummedRoundTrip(again, 256 << 10, 8));
  close(again);
  // "in-http" did not change: its connection (still in the TLS handshake's
  // aftermath or idle) is still open.
  const std::string request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(send(other, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  char buffer[16] = {};
  EXPECT_GT(recv(other, buffer, sizeof(buffer), 0), 0);
  close(other);
  EXPECT_EQ(Reloads(*inbound_, "ok"), 2);
}

TEST_F(ProxyReloadTest, ChangedForwardToReachesNewConnectionsWhileOldOnesKeepTheirs) {
  StartInbound(Backend());
  StartOutbound();
  const int before = ConnectLoopback(outbound_port_);
  ASSERT_GE(before, 0);
  ASSERT_TRUE(ChecksummedRoundTrip(before, 64 << 10, 9));

  ProxyYaml changed = Backend();
  changed.inbound[0].forward_to = http_->address();  // "in" now leads to the HTTP app
  Rewrite(*inbound_, changed);
  const HttpResult r = PostReload(*inbound_);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("in"), std::string::npos) << r.body;

  const std::string response = SendAndReadToEnd(outbound_port_, "GET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(response.rfind("HTTP/1.", 0), 0u) << response;
  EXPECT_TRUE(ChecksummedRoundTrip(before, 256 << 10, 10)) << "the old connection kept echo";
  close(before);
}

TEST_F(ProxyReloadTest, InvalidFileIsRefusedWholeNamingTheField) {
  StartInbound(Backend());
  StartOutbound();
  const int fd = ConnectLoopback(outbound_port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(Alive(fd));

  ProxyYaml broken = Backend();
  broken.AddInbound("in3", echo_->address());  // valid, but the file as a whole is not
  broken.inbound[1].timeouts.idle = "soon";
  Rewrite(*inbound_, broken);
  const HttpResult r = PostReload(*inbound_);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("inbound[1].timeouts.idle"), std::string::npos) << r.body;
  inbound_->process().Signal(SIGHUP);
  EXPECT_TRUE(inbound_->WaitForLog("inbound[1].timeouts.idle"));
  EXPECT_TRUE(WaitFor([&] { return Reloads(*inbound_, "invalid") == 2; }, absl::Seconds(10)));

  EXPECT_FALSE(inbound_->ListenerPort("in3").ok());
  EXPECT_TRUE(Alive(fd));
  close(fd);
  const int again = ConnectLoopback(outbound_port_);
  ASSERT_GE(again, 0);
  EXPECT_TRUE(ChecksummedRoundTrip(again, 256 << 10, 11));
  close(again);
  EXPECT_EQ(Reloads(*inbound_, "ok"), 0);
}

TEST_F(ProxyReloadTest, ChangeThatNeedsARestartIsRefusedNamingTheField) {
  StartInbound(Backend());
  ProxyYaml more_workers = Backend();
  more_workers.runtime.workers = 3;
  more_workers.AddInbound("in3", echo_->address());
  Rewrite(*inbound_, more_workers);
  const HttpResult r = PostReload(*inbound_);
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_NE(r.body.find("runtime.workers"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("requires a restart"), std::string::npos) << r.body;
  EXPECT_FALSE(inbound_->ListenerPort("in3").ok());
  EXPECT_EQ(Reloads(*inbound_, "requires_restart"), 1);
}

TEST_F(ProxyReloadTest, ListenerThatCannotBindFailsTheWholeReload) {
  StartInbound(Backend());
  // A port another program holds (no SO_REUSEPORT: the proxy cannot join it).
  const int holder = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ASSERT_EQ(bind(holder, reinterpret_cast<sockaddr*>(&address), length), 0);
  ASSERT_EQ(listen(holder, 1), 0);
  ASSERT_EQ(getsockname(holder, reinterpret_cast<sockaddr*>(&address), &length), 0);
  ProxyYaml next = Backend();
  next.AddInbound("in3", echo_->address());
  next.AddInbound("in4", echo_->address()).address =
      absl::StrCat("127.0.0.1:", ntohs(address.sin_port));
  Rewrite(*inbound_, next);
  const HttpResult r = PostReload(*inbound_);
  EXPECT_EQ(r.status, 500) << r.body;
  EXPECT_NE(r.body.find("in4"), std::string::npos) << r.body;
  EXPECT_FALSE(inbound_->ListenerPort("in3").ok()) << "nothing of the file applies";
  EXPECT_EQ(Reloads(*inbound_, "failed"), 1);
  EXPECT_EQ(MetricValue(inbound_->Metrics(), "palisade_config_last_reload_successful"), 0);
  close(holder);
  // The same file once the port is free.
  const HttpResult again = PostReload(*inbound_);
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_TRUE(inbound_->ListenerPort("in4").ok());
}

TEST_F(ProxyReloadTest, WhatAWebPageCanSendDoesNotReload) {
  StartInbound(Backend());
  // Every outcome's series is there from the start, at zero.
  const std::string metrics = inbound_->Metrics();
  for (const char* result : {"ok", "invalid", "requires_restart", "failed"}) {
    EXPECT_TRUE(MetricValue(metrics, "palisade_config_reloads_total", {{"result", result}}) ==
                std::optional<double>(0))
        << result << "\n"
        << metrics;
  }
  ProxyYaml added = Backend();
  added.AddInbound("in3", echo_->address()).authorization.spiffe_ids = {kFrontendId};
  Rewrite(*inbound_, added);
  const std::string url = inbound_->admin_url() + "/reload";
  EXPECT_EQ(HttpGet(url).status, 405);
  for (const std::vector<std::string>& headers : std::vector<std::vector<std::string>>{
           {"Content-Type: text/plain", "Origin: http://127.0.0.2:8000",
            "Sec-Fetch-Site: cross-site"},
           {"Content-Type: text/plain"},
           {"Content-Type: application/json", "Origin: http://evil.example"},
           {"Content-Type: application/json", "Sec-Fetch-Site: cross-site"},
       }) {
    const HttpResult r = HttpRequest("POST", url, headers, "{}");
    EXPECT_TRUE(r.status == 403 || r.status == 415)
        << ::testing::PrintToString(headers) << ": " << r.status << " " << r.body;
  }
  EXPECT_FALSE(inbound_->ListenerPort("in3").ok());
  EXPECT_EQ(Reloads(*inbound_, "ok"), 0);
  // The same file through the real door.
  EXPECT_EQ(PostReload(*inbound_).status, 200);
  EXPECT_TRUE(inbound_->ListenerPort("in3").ok());
}

}  // namespace
}  // namespace palisade::testing
