// POST /drain on a real proxy's admin port: refused when a web page could
// have sent it (simple content type, foreign Origin or Host, cross-site
// fetch), and when accepted, a drain that ends: /ready says "draining"
// while connections finish, then the process exits 0 (also when the drain
// timeout cuts the last connection short), so its supervisor starts a new one.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/integration/proxy_fixture.h"
#include "tests/util/loopback.h"
#include "tests/util/status_matchers.h"

namespace palisade::testing {
namespace {

using ::testing::HasSubstr;

class ProxyDrainTest : public TwoHopMesh {
 protected:
  std::string Port(ProxyProcess& proxy) const {
    return proxy.admin_url().substr(proxy.admin_url().rfind(':') + 1);
  }
  HttpResult Drain(ProxyProcess& proxy) { return HttpPostJson(proxy.admin_url() + "/drain", ""); }
  // A client connection through the outbound proxy, with bytes exchanged.
  int HeldConnection() {
    const int fd = ConnectLoopback(outbound_port_, absl::Seconds(10));
    EXPECT_GE(fd, 0);
    EXPECT_EQ(EchoExchange(fd, "before the drain"), "before the drain");
    return fd;
  }
};

TEST_F(ProxyDrainTest, WhatAWebPageCanSendDoesNotDrain) {
  StartInbound();
  const std::string url = inbound_->admin_url() + "/drain";
  struct Case {
    std::vector<std::string> headers;
    int status;
  };
  for (const Case& c : std::vector<Case>{
           // fetch(url, {method: "POST", mode: "no-cors"}) from elsewhere
           {{"Content-Type: text/plain", "Origin: http://127.0.0.2:8000",
             "Sec-Fetch-Site: cross-site"},
            403},
           {{"Content-Type: text/plain"}, 415},
           {{"Content-Type: application/x-www-form-urlencoded"}, 415},
           {{}, 415},
           {{"Content-Type: application/json", "Origin: http://evil.example"}, 403},
           {{"Content-Type: application/json", "Sec-Fetch-Site: cross-site"}, 403},
           // a name rebound to 127.0.0.1 by the page's DNS
           {{"Content-Type: application/json", "Host: evil.example:" + Port(*inbound_)}, 403},
       }) {
    const HttpResult r = HttpRequest("POST", url, c.headers, "{}");
    EXPECT_EQ(r.status, c.status) << ::testing::PrintToString(c.headers) << ": " << r.body;
  }
  EXPECT_EQ(HttpPost(url).status, 415) << "curl -d's form type is a simple one";
  EXPECT_EQ(HttpRequest("GET", inbound_->admin_url() + "/certs",
                        {"Host: evil.example:" + Port(*inbound_)})
                .status,
            403);
  const HttpResult ready = HttpGet(inbound_->admin_url() + "/ready");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_TRUE(inbound_->process().Running());
}

TEST_F(ProxyDrainTest, ADrainEndsWithTheProcessExitingZeroOnceItsConnectionsClose) {
  StartInbound();
  StartOutbound();
  const int client = HeldConnection();
  const HttpResult drain = Drain(*outbound_);
  ASSERT_EQ(drain.status, 200) << drain.body;
  EXPECT_THAT(drain.body, HasSubstr("exits once drained"));
  // While the connection lives: not ready, still healthy, still carrying it.
  const HttpResult ready = HttpGet(outbound_->admin_url() + "/ready");
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(ready.body, "not ready: draining\n");
  EXPECT_EQ(HttpGet(outbound_->admin_url() + "/healthz").status, 200);
  EXPECT_EQ(EchoExchange(client, "during the drain"), "during the drain");
  EXPECT_TRUE(outbound_->process().Running());
  close(client);
  EXPECT_EQ(outbound_->process().Wait(absl::Seconds(15)), 0) << outbound_->process().Output();
  EXPECT_THAT(outbound_->process().Output(), HasSubstr("draining before exit"));
}

TEST_F(ProxyDrainTest, ADrainThatOutlivesItsTimeoutStillEndsTheProcess) {
  // An app behind the inbound proxy that never answers nor closes: the
  // graceful close the drain starts can only end at the drain timeout.
  const int app = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ASSERT_EQ(bind(app, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(listen(app, 8), 0);
  ASSERT_EQ(getsockname(app, reinterpret_cast<sockaddr*>(&address), &length), 0);
  ProxyYaml inbound = IdentityConfig("backend", kBackendId);
  inbound.AddInbound("in", absl::StrCat("127.0.0.1:", ntohs(address.sin_port)))
      .authorization.spiffe_ids = {kFrontendId};
  StartInbound(inbound);
  ProxyYaml config = IdentityConfig("frontend", kFrontendId);
  config.AddOutbound("out", absl::StrCat("127.0.0.1:", inbound_port_)).expected_peer.spiffe_id =
      kBackendId;
  config.runtime.drain_timeout = "2s";
  ASSERT_OK_AND_ASSIGN(outbound_, mesh_.StartReadyProxy("outbound", config));
  ASSERT_OK_AND_ASSIGN(outbound_port_, outbound_->ListenerPort("out"));
  const int client = ConnectLoopback(outbound_port_, absl::Seconds(10));
  ASSERT_GE(client, 0);
  ASSERT_EQ(write(client, "hello", 5), 5);
  ASSERT_TRUE(outbound_->WaitForMetricSum("palisade_handshakes_total", {{"result", "success"}}, 1));

  const absl::Time start = absl::Now();
  ASSERT_EQ(Drain(*outbound_).status, 200);
  EXPECT_EQ(outbound_->process().Wait(absl::Seconds(15)), 0) << outbound_->process().Output();
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Milliseconds(1500)) << "it did not wait for the connection";
  EXPECT_LT(took, absl::Seconds(8));
  close(client);
  close(app);
}

}  // namespace
}  // namespace palisade::testing
