// Transparent capture with real network isolation: "pods" in network
// namespaces, each with its own address, app, proxy and iptables rules
// installed by deploy/capture/palisade-iptables.sh. An app in pod A dials pod
// B's address exactly as it would without a mesh; the bytes reach app B over
// mTLS; a pod without a proxy, and one with an identity B does not allow,
// reach nothing.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "tests/util/echo_backend.h"
#include "tests/util/netns.h"
#include "tests/util/process.h"
#include "tests/util/prometheus_text.h"
#include "tests/util/proxy_process.h"
#include "tests/util/proxy_yaml.h"
#include "tests/util/status_matchers.h"
#include "tests/util/test_pki.h"

namespace palisade::testing {
namespace {

constexpr char kCapture[] = "deploy/capture/palisade-iptables.sh";
constexpr uint32_t kMark = 1337;
constexpr char kTrustDomain[] = "cluster.local";
constexpr char kFrontendId[] = "spiffe://cluster.local/ns/shop/sa/frontend";
constexpr char kBackendId[] = "spiffe://cluster.local/ns/shop/sa/backend";

class TransparentCaptureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("capture");
    for (const char* pod : {"a", "b", "c", "d"}) {
      ASSERT_TRUE(net_.AddPod(pod).ok()) << net_.AddPod(pod);
    }
    TestPki::Options options;
    options.trust_domain = kTrustDomain;
    pki_ = TestPki(options);
    pki_.WriteFiles(dir_, "a", pki_.IssueLeaf("/ns/shop/sa/frontend"));
    pki_.WriteFiles(dir_, "b", pki_.IssueLeaf("/ns/shop/sa/backend"));
    pki_.WriteFiles(dir_, "d", pki_.IssueLeaf("/ns/other/sa/intruder"));

    // App B: HTTP on every address, port 8080, recording what reaches it.
    StartApp("b", "0.0.0.0:8080", "app-b4");
    StartApp("b", "[::]:8080", "app-b6");

    // Proxies in A, B and D, with capture rules in their pods; C has neither.
    for (const char* pod : {"a", "b", "d"}) {
      StartProxy(pod);
      const CommandResult r =
          RunCommand(net_.In(pod, {kCapture, "install", "--proxy-mark", std::to_string(kMark),
                                   "--exclude-inbound-ports", "15000", "--ipv6"}));
      ASSERT_EQ(r.exit_code, 0) << r.output;
    }
  }

  // An HTTP app inside `pod`, recording what reaches it.
  void StartApp(const std::string& pod, const std::string& listen, const std::string& name) {
    EchoBackend::Options options;
    options.mode = "http";
    options.listen = listen;
    options.command_prefix = net_.In(pod, {});
    ASSERT_OK_AND_ASSIGN(apps_[name], EchoBackend::Start(dir_, name, options));
  }

  // Capture on both address families: inbound to the original port of the
  // pod's app, outbound to whatever the app dialled.
  ProxyYaml ProxyConfig(const std::string& pod) {
    ProxyYaml config;
    config.identity.files = ProxyYaml::Files{dir_ + "/" + pod + ".pem",
                                             dir_ + "/" + pod + ".key",
                                             {{kTrustDomain, dir_ + "/bundle.pem"}}};
    config.admin.address = "127.0.0.1:15000";
    config.runtime.workers = 1;
    config.runtime.socket_mark = kMark;
    for (const auto& [name, address, forward_to] :
         {std::tuple<const char*, const char*, const char*>{"capture-in", "0.0.0.0:15006",
                                                            "127.0.0.1:0"},
          {"capture-in6", "[::]:15006", "[::1]:0"}}) {
      ProxyYaml::Inbound& in = config.AddInbound(name, forward_to);
      in.address = address;
      in.original_destination = true;
      in.authorization.spiffe_ids = {kFrontendId};
    }
    for (const auto& [name, address] :
         {std::pair<const char*, const char*>{"capture-out", "127.0.0.1:15001"},
          {"capture-out6", "[::1]:15001"}}) {
      ProxyYaml::Outbound& out = config.AddOutbound(name, "");
      out.address = address;
      out.original_destination = true;
      out.expected_peer.trust_domain = kTrustDomain;
    }
    ProxyYaml::Destination& to_b = config.outbound[0].destinations.emplace_back();
    to_b.address = net_.Ipv4("b");
    to_b.expected_peer.spiffe_id = kBackendId;
    return config;
  }

  void StartProxy(const std::string& pod) {
    const std::string config = dir_ + "/" + pod + ".yaml";
    ASSERT_TRUE(WriteFile(config, ProxyConfig(pod).ToString()));
    auto p = Process::Start(net_.In(pod, {kProxyBinary, "--config=" + config}),
                            dir_ + "/proxy-" + pod + ".log");
    ASSERT_TRUE(p.ok());
    processes_.push_back(*std::move(p));
    ASSERT_TRUE(WaitFor([&] { return Curl(pod, "http://127.0.0.1:15000/ready").status == 200; },
                        absl::Seconds(20)))
        << ReadFileOrEmpty(dir_ + "/proxy-" + pod + ".log");
  }

  HttpResult Curl(const std::string& pod, const std::string& url) { return net_.Curl(pod, url); }

  std::string Metrics(const std::string& pod) {
    return Curl(pod, "http://127.0.0.1:15000/metrics").body;
  }

  int AppAccepts(const std::string& name) { return apps_.at(name)->Accepted(); }

  void TearDown() override {
    for (auto& p : processes_) p->Stop();
    processes_.clear();
    apps_.clear();
  }

  PodNetwork net_;
  std::string dir_;
  TestPki pki_;
  std::map<std::string, std::unique_ptr<EchoBackend>> apps_;
  std::vector<std::unique_ptr<Process>> processes_;  // the proxies
};

TEST_F(TransparentCaptureTest, AppReachesAnotherPodThroughMtlsByItsOwnAddress) {
  const HttpResult v4 = Curl("a", absl::StrCat("http://", net_.Ipv4("b"), ":8080/hello"));
  EXPECT_EQ(v4.status, 200);
  EXPECT_NE(v4.body.find("hello from app-b4"), std::string::npos) << v4.body;
  const HttpResult v6 = Curl("a", absl::StrCat("http://[", net_.Ipv6("b"), "]:8080/hello"));
  EXPECT_EQ(v6.status, 200);
  EXPECT_NE(v6.body.find("hello from app-b6"), std::string::npos) << v6.body;

  // Both proxies saw an mTLS handshake with the right peer.
  EXPECT_GE(
      MetricSum(Metrics("a"), "palisade_handshakes_total",
                {{"direction", "outbound"}, {"result", "success"}, {"peer_identity", kBackendId}}),
      2);
  EXPECT_GE(
      MetricSum(Metrics("b"), "palisade_handshakes_total",
                {{"direction", "inbound"}, {"result", "success"}, {"peer_identity", kFrontendId}}),
      2);
}

TEST_F(TransparentCaptureTest, PodWithoutAProxyCannotReachTheApp) {
  const int before = AppAccepts("app-b4");
  const HttpResult r = Curl("c", absl::StrCat("http://", net_.Ipv4("b"), ":8080/hello"));
  EXPECT_NE(r.status, 200);
  EXPECT_EQ(AppAccepts("app-b4"), before);
  EXPECT_TRUE(WaitFor(
      [&] {
        return MetricSum(
                   Metrics("b"), "palisade_handshakes_total",
                   {{"direction", "inbound"}, {"result", "failure"}, {"reason", "not_tls"}}) >= 1;
      },
      absl::Seconds(5)));
}

TEST_F(TransparentCaptureTest, PodWithADisallowedIdentityCannotReachTheApp) {
  const int before = AppAccepts("app-b4");
  const HttpResult r = Curl("d", absl::StrCat("http://", net_.Ipv4("b"), ":8080/hello"));
  EXPECT_NE(r.status, 200);
  EXPECT_EQ(AppAccepts("app-b4"), before);
  EXPECT_TRUE(WaitFor(
      [&] {
        return MetricSum(Metrics("b"), "palisade_authorization_denials_total",
                         {{"peer_identity", "spiffe://cluster.local/ns/other/sa/intruder"}}) >= 1;
      },
      absl::Seconds(5)));
}

TEST_F(TransparentCaptureTest, CaptureRulesCanBeRemovedAgain) {
  const CommandResult removed = RunCommand(net_.In("a", {kCapture, "remove", "--ipv6"}));
  ASSERT_EQ(removed.exit_code, 0) << removed.output;
  const CommandResult rules = RunCommand(net_.In("a", {"iptables", "-t", "nat", "-S"}));
  EXPECT_EQ(rules.output.find("PALISADE"), std::string::npos) << rules.output;
  // Without capture, A's app talks to B's address in plaintext, which B's
  // capture sends to its mTLS port: refused, not forwarded.
  EXPECT_NE(Curl("a", absl::StrCat("http://", net_.Ipv4("b"), ":8080/")).status, 200);
}

}  // namespace
}  // namespace palisade::testing
