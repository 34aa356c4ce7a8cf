// caller_identity proxy_protocol against real PROXY protocol v2 consumers:
// haproxy (bind ... accept-proxy) and nginx's stream module (listen ...
// proxy_protocol), each behind an inbound listener. A client from
// 127.0.0.66 (curl with the frontend's SVID) reaches them; both take the
// header and log, and answer with, the client's address rather than the
// proxy's. The TLVs (PP2_TYPE_SSL, SPIFFE ID in 0xE0) are checked byte for
// byte in proxy/caller:proxy_protocol_test: Debian's haproxy 2.6 and nginx
// 1.22 parse them but have no way to print them.
#include <signal.h>

#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/util/loopback.h"
#include "tests/util/mesh_fixture.h"
#include "tests/util/process.h"
#include "tests/util/status_matchers.h"
#include "tests/util/subprocess.h"

namespace palisade::testing {
namespace {

constexpr char kFrontendId[] = "spiffe://cluster.local/ns/shop/sa/frontend";
constexpr char kBackendId[] = "spiffe://cluster.local/ns/shop/sa/backend";
constexpr char kClient[] = "127.0.0.66";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Waits until something accepts on `port`.
bool WaitListening(uint16_t port) {
  return WaitFor(
      [port] {
        const int fd = ConnectLoopback(port, absl::Seconds(1));
        if (fd < 0) return false;
        close(fd);
        return true;
      },
      absl::Seconds(10));
}

class CallerIdentityProxyProtocolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mesh_.WriteSvid("frontend", "/ns/shop/sa/frontend");
    mesh_.WriteSvid("backend", "/ns/shop/sa/backend");
  }

  // Starts the inbound proxy with one proxy_protocol listener to `app_port`
  // and returns the listener's port.
  uint16_t StartInbound(uint16_t app_port) {
    ProxyYaml config = mesh_.FileIdentityConfig("backend", kBackendId);
    ProxyYaml::Inbound& in = config.AddInbound("in", absl::StrCat("127.0.0.1:", app_port));
    in.authorization.spiffe_ids = {kFrontendId};
    in.caller_identity.mode = "proxy_protocol";
    auto proxy = mesh_.StartReadyProxy("inbound", config);
    if (!proxy.ok()) return 0;
    return (*proxy)->ListenerPort("in").value_or(0);
  }

  // curl from 127.0.0.66 with the frontend's SVID. -k: the SVID names its
  // server by SPIFFE ID only, which curl cannot match; the proxy's check of
  // the client is what is under test.
  CommandResult Curl(uint16_t port, bool http09) {
    const std::string& dir = mesh_.dir();
    std::vector<std::string> argv = {"curl",
                                     "-sS",
                                     "-k",
                                     "--interface",
                                     kClient,
                                     "--cert",
                                     dir + "/frontend.pem",
                                     "--key",
                                     dir + "/frontend.key",
                                     "--max-time",
                                     "10"};
    if (http09) argv.push_back("--http0.9");
    argv.push_back(absl::StrCat("https://127.0.0.1:", port, "/"));
    return RunCommand(argv, absl::Seconds(15));
  }

  MeshFixture mesh_;
};

TEST_F(CallerIdentityProxyProtocolTest, HaproxyAcceptsTheHeaderAndSeesTheClientsAddress) {
  const uint16_t app_port = PickFreeLoopbackPort();
  ASSERT_NE(app_port, 0);
  const std::string config = mesh_.dir() + "/haproxy.cfg";
  std::ofstream(config) << absl::StrCat(
      "global\n  log stdout format raw local0\n"
      "defaults\n  mode http\n  log global\n  timeout connect 5s\n  timeout client 10s\n"
      "  timeout server 10s\n"
      "frontend app\n  bind 127.0.0.1:",
      app_port, " accept-proxy\n", "  log-format \"pp_client=%ci:%cp\"\n",
      "  http-request return status 200 content-type text/plain lf-string \"src=%[src]\\n\"\n");
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<Process> haproxy,
      Process::Start({"haproxy", "-db", "-f", config}, mesh_.dir() + "/haproxy.log"));
  ASSERT_TRUE(WaitListening(app_port)) << haproxy->Output();
  const uint16_t port = StartInbound(app_port);
  ASSERT_NE(port, 0) << mesh_.Logs();

  const CommandResult curl = Curl(port, /*http09=*/false);
  EXPECT_EQ(curl.exit_code, 0) << curl.command << "\n" << curl.output;
  EXPECT_EQ(curl.output, absl::StrCat("src=", kClient, "\n")) << mesh_.Logs();
  EXPECT_TRUE(WaitFor(
      [&] {
        return absl::StrContains(haproxy->Output(), absl::StrCat("pp_client=", kClient, ":"));
      },
      absl::Seconds(10)))
      << haproxy->Output();
  mesh_.StopProxies();
  haproxy->ExpectExit(128 + SIGTERM);  // haproxy's hard stop
  haproxy->Stop();
}

TEST_F(CallerIdentityProxyProtocolTest, NginxStreamAcceptsTheHeaderAndLogsTheClientsAddress) {
  const uint16_t app_port = PickFreeLoopbackPort();
  ASSERT_NE(app_port, 0);
  const std::string& dir = mesh_.dir();
  const std::string config = dir + "/nginx.conf";
  std::ofstream(config) << absl::StrCat(
      "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n"
      "daemon off;\nmaster_process off;\n",
      "pid ", dir, "/nginx.pid;\nerror_log ", dir, "/nginx-error.log info;\n",
      "events {}\n"
      "stream {\n"
      "  log_format pp 'pp_client=$proxy_protocol_addr:$proxy_protocol_port';\n"
      "  server {\n"
      "    listen 127.0.0.1:",
      app_port, " proxy_protocol;\n", "    access_log ", dir, "/nginx-access.log pp;\n",
      "    return \"src=$proxy_protocol_addr\\n\";\n"
      "  }\n"
      "}\n");
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<Process> nginx,
      Process::Start({"nginx", "-p", dir, "-e", dir + "/nginx-error.log", "-c", config},
                     dir + "/nginx.log"));
  ASSERT_TRUE(WaitListening(app_port)) << nginx->Output() << ReadFile(dir + "/nginx-error.log");
  const uint16_t port = StartInbound(app_port);
  ASSERT_NE(port, 0) << mesh_.Logs();

  // nginx's stream `return` answers with bare bytes (HTTP/0.9 to curl) and
  // closes with curl's request unread, which may end in a reset after them.
  const CommandResult curl = Curl(port, /*http09=*/true);
  EXPECT_TRUE(absl::StrContains(curl.output, absl::StrCat("src=", kClient, "\n")))
      << curl.command << "\n"
      << curl.output << mesh_.Logs();
  EXPECT_TRUE(WaitFor(
      [&] {
        return absl::StrContains(ReadFile(dir + "/nginx-access.log"),
                                 absl::StrCat("pp_client=", kClient, ":"));
      },
      absl::Seconds(10)))
      << ReadFile(dir + "/nginx-access.log") << ReadFile(dir + "/nginx-error.log");
  mesh_.StopProxies();
  nginx->Stop();
}

}  // namespace
}  // namespace palisade::testing
