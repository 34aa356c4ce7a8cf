// An injected pod's networking, as the injector sets it up, in network
// namespaces: the capture init container's exact command under a read-only
// root with only NET_ADMIN and NET_RAW, and the proxy as uid 1337 with no
// capabilities running deploy/kubernetes/proxy.yaml (with file identity in
// place of palisade-control, which is the one difference). Pods a
// (frontend) and b (backend) are meshed; c stands for the node (kubelet,
// Prometheus) and for any pod outside the mesh.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "control/inject/pod_injector.h"
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

using ::testing::HasSubstr;

constexpr char kScript[] = "deploy/capture/palisade-iptables.sh";

class InjectedPodTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Under /tmp and world-readable: uid 1337 cannot enter Bazel's folders.
    char tmpl[] = "/tmp/palisade-injected-pod-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    chmod(dir_.c_str(), 0755);
    TestPki::Options options;
    options.trust_domain = "cluster.local";
    pki_ = TestPki(options);
    pki_.WriteFiles(dir_, "a", pki_.IssueLeaf("/ns/palisade-sample/sa/frontend"));
    pki_.WriteFiles(dir_, "b", pki_.IssueLeaf("/ns/palisade-sample/sa/backend"));
    ASSERT_EQ(RunCommand({"sh", "-c", "chmod 0644 " + dir_ + "/*"}).exit_code, 0);
    ASSERT_EQ(RunCommand({"cp", kProxyBinary, dir_ + "/palisade-proxy"}).exit_code, 0);
    chmod((dir_ + "/palisade-proxy").c_str(), 0755);

    for (const char* pod : {"a", "b", "c"}) ASSERT_TRUE(net_.AddPod(pod).ok());
    StartApp("b", "app-b", "0.0.0.0:8080");
    StartApp("b", "app-b6", "[::]:8080");
    for (const char* pod : {"a", "b"}) {
      InstallCapture(pod);
      StartProxy(pod);
    }
  }

  void TearDown() override {
    for (auto& p : processes_) p->Stop();
    processes_.clear();
    apps_.clear();
    RunCommand({"rm", "-rf", dir_});
  }

  // What the injector puts in the palisade-init container, run as the
  // container runtime would: root, a read-only root file system, and a
  // bounding set of NET_ADMIN and NET_RAW only.
  void InstallCapture(const std::string& pod) {
    auto injector = inject::PodInjector::Create(inject::InjectOptions());
    ASSERT_TRUE(injector.ok());
    const inject::Json spec = {{"containers", {{{"name", "app"}, {"image", "app"}}}}};
    auto plan = injector->Plan(inject::Json(), spec);
    ASSERT_TRUE(plan.ok() && plan->inject);
    const inject::Json& init = plan->mutation.init_containers[0];
    ASSERT_EQ(init["name"], "palisade-init");
    ASSERT_EQ(init["command"][0], "/usr/local/bin/palisade-iptables.sh");
    std::vector<std::string> argv = {"unshare",
                                     "--mount",
                                     "--propagation",
                                     "private",
                                     "sh",
                                     "-c",
                                     "mount -o remount,bind,ro / && exec setpriv --inh-caps=-all "
                                     "--bounding-set=-all,+net_admin,+net_raw \"$@\"",
                                     "sh",
                                     kScript};
    for (const auto& arg : init["args"]) argv.push_back(arg.get<std::string>());
    const CommandResult r = RunCommand(net_.In(pod, argv));
    ASSERT_EQ(r.exit_code, 0) << r.command << "\n" << r.output;
  }

  // deploy/kubernetes/proxy.yaml with a file identity in place of its
  // control_plane one; every other line as shipped.
  void StartProxy(const std::string& pod) {
    const std::string shipped = ReadFileOrEmpty("deploy/kubernetes/proxy.yaml");
    const size_t begin = shipped.find("\nidentity:\n");
    const size_t end = shipped.find("\ninbound:\n");
    ASSERT_NE(begin, std::string::npos);
    ASSERT_NE(end, std::string::npos);
    ProxyYaml files;
    files.identity.files =
        ProxyYaml::Files{pod + ".pem", pod + ".key", {{"cluster.local", "bundle.pem"}}};
    const std::string config =
        shipped.substr(0, begin) + "\n" + files.IdentitySection() + shipped.substr(end);
    const std::string path = dir_ + "/" + pod + ".yaml";
    ASSERT_TRUE(WriteFile(path, config));
    chmod(path.c_str(), 0644);
    auto p =
        Process::Start(net_.In(pod, {"setpriv", "--reuid=1337", "--regid=1337", "--clear-groups",
                                     "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs",
                                     dir_ + "/palisade-proxy", "--config=" + path}),
                       dir_ + "/proxy-" + pod + ".log");
    ASSERT_TRUE(p.ok());
    Process* proxy = p->get();
    processes_.push_back(*std::move(p));
    ASSERT_TRUE(WaitFor(
        [&] {
          return !proxy->Running() || Curl(pod, "http://127.0.0.1:15000/ready").status == 200;
        },
        absl::Seconds(20)));
    ASSERT_TRUE(proxy->Running()) << ReadFileOrEmpty(dir_ + "/proxy-" + pod + ".log");
  }

  // An HTTP app inside `pod`, recording what reaches it.
  void StartApp(const std::string& pod, const std::string& name, const std::string& listen) {
    EchoBackend::Options options;
    options.mode = "http";
    options.listen = listen;
    options.command_prefix = net_.In(pod, {});
    ASSERT_OK_AND_ASSIGN(apps_[name], EchoBackend::Start(dir_, name, options));
  }

  HttpResult Curl(const std::string& pod, const std::string& url) { return net_.Curl(pod, url); }

  int AppRequests() { return apps_.at("app-b")->Accepted(); }

  PodNetwork net_{78};
  std::string dir_;
  TestPki pki_;
  std::map<std::string, std::unique_ptr<EchoBackend>> apps_;
  std::vector<std::unique_ptr<Process>> processes_;  // the proxies
};

// The proxy's own connections leave by uid alone (no SO_MARK): were they
// captured again, this request would loop instead of arriving.
TEST_F(InjectedPodTest, AppReachesAnotherPodThroughBothProxiesByItsAddress) {
  const HttpResult r = Curl("a", absl::StrCat("http://", net_.Ipv4("b"), ":8080/hello"));
  EXPECT_EQ(r.status, 200) << ReadFileOrEmpty(dir_ + "/proxy-a.log");
  EXPECT_THAT(r.body, HasSubstr("hello from app-b"));
  const HttpResult v6 = Curl("a", absl::StrCat("http://[", net_.Ipv6("b"), "]:8080/hello"));
  EXPECT_EQ(v6.status, 200);
  EXPECT_THAT(v6.body, HasSubstr("hello from app-b6"));
  const std::string metrics = Curl("b", "http://127.0.0.1:15000/metrics").body;
  EXPECT_GE(MetricSum(metrics, "palisade_handshakes_total",
                      {{"direction", "inbound"},
                       {"result", "success"},
                       {"peer_identity", "spiffe://cluster.local/ns/palisade-sample/sa/frontend"}}),
            2);
}

// What the kubelet's probes and Prometheus do: plaintext HTTP from the node
// to the pod's public health port, which the capture leaves alone.
TEST_F(InjectedPodTest, NodeReachesTheHealthPortInPlaintext) {
  const std::string base = absl::StrCat("http://", net_.Ipv4("b"), ":15020");
  EXPECT_EQ(Curl("c", base + "/ready").status, 200);
  EXPECT_EQ(Curl("c", base + "/healthz").status, 200);
  const HttpResult metrics = Curl("c", base + "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.body, HasSubstr("palisade_"));
}

TEST_F(InjectedPodTest, PlaintextFromOutsideTheMeshNeverReachesTheAppOrTheAdminApi) {
  const int before = AppRequests();
  EXPECT_NE(Curl("c", absl::StrCat("http://", net_.Ipv4("b"), ":8080/")).status, 200);
  EXPECT_NE(Curl("c", absl::StrCat("http://", net_.Ipv4("b"), ":15000/ready")).status, 200);
  EXPECT_EQ(AppRequests(), before);
}

}  // namespace
}  // namespace palisade::testing
