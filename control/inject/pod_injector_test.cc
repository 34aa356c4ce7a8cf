#include "control/inject/pod_injector.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/util/status_matchers.h"

namespace palisade::inject {
namespace {

using ::palisade::testing::StatusIs;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

Json AppPod() {
  return Json::parse(R"({
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "cart", "namespace": "shop", "labels": {"app": "cart"}},
    "spec": {
      "serviceAccountName": "cart",
      "initContainers": [{"name": "migrate", "image": "cart:1"}],
      "containers": [{"name": "cart", "image": "cart:1",
                      "ports": [{"name": "http", "containerPort": 8080}]}],
      "volumes": [{"name": "data", "emptyDir": {}}]
    }})");
}

class PodInjectorTest : public ::testing::Test {
 protected:
  InjectPlan PlanFor(const Json& pod, const Json& owner = Json()) {
    absl::StatusOr<InjectPlan> plan =
        injector_.Plan(pod.value("metadata", Json()), pod["spec"], owner);
    EXPECT_TRUE(plan.ok()) << plan.status();
    return plan.ok() ? *plan : InjectPlan{};
  }
  Json Injected(Json pod) {
    InjectPlan plan = PlanFor(pod);
    EXPECT_TRUE(plan.inject) << plan.skip_reason;
    PodInjector::Apply(plan.mutation, &pod);
    return pod;
  }
  static const Json& Container(const Json& pod, const std::string& name) {
    for (const Json& c : pod["spec"]["initContainers"]) {
      if (c["name"] == name) return c;
    }
    static const Json kNone;
    return kNone;
  }

  PodInjector injector_ = *PodInjector::Create(InjectOptions());
};

TEST_F(PodInjectorTest, PutsCaptureThenProxyBeforeTheAppsOwnInitContainers) {
  const Json pod = Injected(AppPod());
  std::vector<std::string> names;
  for (const Json& c : pod["spec"]["initContainers"]) names.push_back(c["name"]);
  EXPECT_THAT(names, ElementsAre("palisade-init", "palisade-proxy", "migrate"));
  EXPECT_THAT(pod["spec"]["containers"], SizeIs(1));
  EXPECT_EQ(pod["spec"]["volumes"][0]["name"], "data");
  EXPECT_EQ(pod["spec"]["volumes"][1]["name"], "palisade-identity");
}

TEST_F(PodInjectorTest, MakesTheProxyANativeSidecarGatedOnReady) {
  const Json pod = Injected(AppPod());
  const Json& proxy = Container(pod, "palisade-proxy");
  EXPECT_EQ(proxy["restartPolicy"], "Always");
  EXPECT_EQ(proxy["startupProbe"]["httpGet"]["path"], "/ready");
  EXPECT_EQ(proxy["startupProbe"]["httpGet"]["port"], 15020);
  EXPECT_EQ(proxy["readinessProbe"]["httpGet"]["path"], "/ready");
  EXPECT_EQ(proxy["livenessProbe"]["httpGet"]["path"], "/healthz");
  EXPECT_EQ(proxy["args"][0], "--config=/etc/palisade/proxy.yaml");
  EXPECT_EQ(proxy["volumeMounts"][0]["mountPath"], "/etc/palisade");
  EXPECT_EQ(proxy["resources"]["requests"]["cpu"], "100m");
  EXPECT_EQ(proxy["resources"]["limits"]["memory"], "256Mi");
}

TEST_F(PodInjectorTest, RunsTheProxyAsNonRootWithNoCapabilities) {
  const Json pod = Injected(AppPod());
  const Json& sc = Container(pod, "palisade-proxy")["securityContext"];
  EXPECT_EQ(sc["runAsUser"], 1337);
  EXPECT_EQ(sc["runAsNonRoot"], true);
  EXPECT_EQ(sc["readOnlyRootFilesystem"], true);
  EXPECT_EQ(sc["allowPrivilegeEscalation"], false);
  EXPECT_EQ(sc["capabilities"], Json::parse(R"({"drop": ["ALL"]})"));
}

TEST_F(PodInjectorTest, RunsCaptureAsRootWithOnlyNetAdminAndNetRaw) {
  const Json pod = Injected(AppPod());
  const Json& init = Container(pod, "palisade-init");
  EXPECT_EQ(init["command"][0], "/usr/local/bin/palisade-iptables.sh");
  EXPECT_EQ(init["args"], Json::parse(R"(["install", "--proxy-uid", "1337",
      "--inbound-port", "15006", "--outbound-port", "15001", "--exclude-inbound-ports", "15020",
      "--exclude-outbound-ports", "53", "--ipv6"])"));
  const Json& sc = init["securityContext"];
  EXPECT_EQ(sc["runAsUser"], 0);
  EXPECT_EQ(sc["runAsNonRoot"], false);  // overrides a pod-level runAsNonRoot
  EXPECT_EQ(sc["readOnlyRootFilesystem"], true);
  EXPECT_EQ(sc["capabilities"],
            Json::parse(R"({"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]})"));
}

TEST_F(PodInjectorTest, ProjectsConfigBundleAndAShortLivedTokenForTheControlPlane) {
  const Json pod = Injected(AppPod());
  const Json& sources = pod["spec"]["volumes"][1]["projected"]["sources"];
  ASSERT_THAT(sources, SizeIs(3));
  EXPECT_EQ(sources[0]["configMap"]["name"], "palisade-proxy");
  EXPECT_EQ(sources[1]["configMap"]["name"], "palisade-root-bundle");
  EXPECT_EQ(sources[2]["serviceAccountToken"],
            Json::parse(R"({"audience": "palisade", "expirationSeconds": 600, "path": "token"})"));
}

TEST_F(PodInjectorTest, AnnotatesThePodForPrometheusAndAsInjected) {
  const Json pod = Injected(AppPod());
  const Json& annotations = pod["metadata"]["annotations"];
  EXPECT_EQ(annotations["palisade.dev/injected"], "true");
  EXPECT_EQ(annotations["prometheus.io/scrape"], "true");
  EXPECT_EQ(annotations["prometheus.io/port"], "15020");
  EXPECT_EQ(annotations["prometheus.io/path"], "/metrics");
  EXPECT_EQ(annotations["palisade.dev/admin-port"], "15020");
}

TEST_F(PodInjectorTest, KeepsTheAppsOwnPrometheusAnnotations) {
  Json pod = AppPod();
  pod["metadata"]["annotations"] = {{"prometheus.io/scrape", "true"},
                                    {"prometheus.io/port", "9090"}};
  const Json injected = Injected(pod);
  const Json& annotations = injected["metadata"]["annotations"];
  EXPECT_EQ(annotations["prometheus.io/port"], "9090");
  EXPECT_FALSE(annotations.contains("prometheus.io/path"));
  EXPECT_EQ(annotations["palisade.dev/scrape"], "true");
}

TEST_F(PodInjectorTest, LeavesPodsThatOptOutAlone) {
  Json by_annotation = AppPod();
  by_annotation["metadata"]["annotations"] = {{"palisade.dev/inject", "false"}};
  EXPECT_FALSE(PlanFor(by_annotation).inject);
  Json by_label = AppPod();
  by_label["metadata"]["labels"]["palisade.dev/inject"] = "false";
  EXPECT_FALSE(PlanFor(by_label).inject);
  const Json owner = {{"labels", {{"palisade.dev/inject", "false"}}}};
  const InjectPlan plan = PlanFor(AppPod(), owner);
  EXPECT_FALSE(plan.inject);
  EXPECT_THAT(plan.skip_reason, HasSubstr("palisade.dev/inject"));
}

TEST_F(PodInjectorTest, LeavesInjectedPodsAlone) {
  EXPECT_THAT(PlanFor(Injected(AppPod())).skip_reason, HasSubstr("already injected"));
  Json by_hand = AppPod();
  by_hand["spec"]["containers"].push_back({{"name", "palisade-proxy"}, {"image", "x"}});
  EXPECT_THAT(PlanFor(by_hand).skip_reason, HasSubstr("already has a palisade-proxy"));
}

TEST_F(PodInjectorTest, LeavesHostNetworkPodsAloneAndSaysSo) {
  Json pod = AppPod();
  pod["spec"]["hostNetwork"] = true;
  const InjectPlan plan = PlanFor(pod);
  EXPECT_FALSE(plan.inject);
  EXPECT_THAT(plan.warnings, Contains(HasSubstr("hostNetwork")));
}

TEST_F(PodInjectorTest, AddsThePodsOwnCaptureExclusions) {
  Json pod = AppPod();
  pod["metadata"]["annotations"] = {{"palisade.dev/exclude-inbound-ports", "8081"},
                                    {"palisade.dev/exclude-outbound-ports", "5432"},
                                    {"palisade.dev/exclude-outbound-cidrs", "10.96.0.1/32"}};
  const Json injected = Injected(pod);
  const Json& args = Container(injected, "palisade-init")["args"];
  EXPECT_THAT(args, Contains("15020,8081"));
  EXPECT_THAT(args, Contains("53,5432"));
  EXPECT_THAT(args, Contains("10.96.0.1/32"));
}

TEST_F(PodInjectorTest, RefusesABadExclusionAnnotationByName) {
  Json pod = AppPod();
  pod["metadata"]["annotations"] = {{"palisade.dev/exclude-outbound-cidrs", "10.0.0.0/8 && x"}};
  EXPECT_THAT(injector_.Plan(pod["metadata"], pod["spec"]),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("annotation palisade.dev/exclude-outbound-cidrs")));
}

TEST_F(PodInjectorTest, RefusesAnAppOnAPortTheProxyNeeds) {
  Json pod = AppPod();
  pod["spec"]["containers"][0]["ports"][0]["containerPort"] = 15006;
  EXPECT_THAT(injector_.Plan(pod["metadata"], pod["spec"]),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("spec.containers[0] (\"cart\") uses port 15006")));
}

TEST_F(PodInjectorTest, RefusesAVolumeNamedLikeOurs) {
  Json pod = AppPod();
  pod["spec"]["volumes"].push_back({{"name", "palisade-identity"}, {"emptyDir", Json::object()}});
  EXPECT_THAT(injector_.Plan(pod["metadata"], pod["spec"]),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("palisade-identity")));
}

TEST_F(PodInjectorTest, RefusesASpecWhoseListsAreNotLists) {
  Json pod = AppPod();
  pod["spec"]["volumes"] = "data";
  EXPECT_THAT(
      injector_.Plan(pod["metadata"], pod["spec"]),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("spec.volumes is not a list")));
}

TEST_F(PodInjectorTest, WarnsAboutKubeletProbesOnCapturedPorts) {
  Json pod = AppPod();
  pod["spec"]["containers"][0]["readinessProbe"] = {{"httpGet", {{"path", "/"}, {"port", "http"}}}};
  pod["spec"]["containers"][0]["livenessProbe"] = {{"tcpSocket", {{"port", 8080}}}};
  pod["spec"]["containers"][0]["startupProbe"] = {{"exec", {{"command", {"true"}}}}};
  const InjectPlan plan = PlanFor(pod);
  EXPECT_THAT(plan.warnings,
              Contains(HasSubstr("readinessProbe (httpGet) on port 8080 would fail")));
  EXPECT_THAT(plan.warnings,
              Contains(HasSubstr("livenessProbe (tcpSocket) on port 8080 would check the proxy")));
  EXPECT_THAT(plan.warnings, SizeIs(2));

  pod["metadata"]["annotations"] = {{"palisade.dev/exclude-inbound-ports", "8080"}};
  EXPECT_THAT(PlanFor(pod).warnings, IsEmpty());
}

TEST_F(PodInjectorTest, WarnsWhenTheAppSharesTheProxysUid) {
  Json pod = AppPod();
  pod["spec"]["securityContext"] = {{"runAsUser", 1337}};
  EXPECT_THAT(PlanFor(pod).warnings, Contains(HasSubstr("bypasses the mesh")));
}

TEST_F(PodInjectorTest, HonoursTheOptions) {
  InjectOptions options;
  options.proxy_image = "registry.example/palisade/proxy:1.2";
  options.capture_ipv6 = false;
  options.exclude_outbound_ports = {};
  options.proxy_cpu_limit = "";
  PodInjector injector = *PodInjector::Create(options);
  Json pod = AppPod();
  InjectPlan plan = *injector.Plan(pod["metadata"], pod["spec"]);
  PodInjector::Apply(plan.mutation, &pod);
  EXPECT_EQ(Container(pod, "palisade-proxy")["image"], "registry.example/palisade/proxy:1.2");
  EXPECT_THAT(Container(pod, "palisade-init")["args"], ::testing::Not(Contains("--ipv6")));
  EXPECT_THAT(Container(pod, "palisade-init")["args"],
              ::testing::Not(Contains("--exclude-outbound-ports")));
  EXPECT_FALSE(Container(pod, "palisade-proxy")["resources"]["limits"].contains("cpu"));
}

TEST_F(PodInjectorTest, RefusesInvalidOptions) {
  InjectOptions options;
  options.proxy_image = "";
  EXPECT_THAT(PodInjector::Create(options), StatusIs(absl::StatusCode::kInvalidArgument));
}

// The webhook's patch and the CLI's Apply make the same pod, whatever the
// pod already has.
TEST_F(PodInjectorTest, JsonPatchMakesTheSamePodAsApply) {
  Json bare = AppPod();
  bare["spec"].erase("initContainers");
  bare["spec"].erase("volumes");
  Json no_metadata = bare;
  no_metadata.erase("metadata");
  Json annotated = AppPod();
  annotated["metadata"]["annotations"] = {{"team", "cart"}};
  Json nulls = AppPod();
  nulls["spec"]["initContainers"] = nullptr;
  nulls["metadata"]["annotations"] = nullptr;
  for (const Json& pod : {AppPod(), bare, no_metadata, annotated, nulls}) {
    const InjectPlan plan = PlanFor(pod);
    ASSERT_TRUE(plan.inject);
    Json applied = pod;
    PodInjector::Apply(plan.mutation, &applied);
    const Json patch = PodInjector::ToJsonPatch(plan.mutation, pod);
    for (const Json& op : patch) EXPECT_EQ(op["op"], "add") << op.dump();
    // nlohmann's RFC 6902 implementation, independent of ours.
    EXPECT_EQ(nlohmann::json(pod).patch(nlohmann::json(patch)), nlohmann::json(applied))
        << patch.dump(2);
  }
}

TEST_F(PodInjectorTest, JsonPatchEscapesSlashesInAnnotationKeys) {
  Json pod = AppPod();
  pod["metadata"]["annotations"] = {{"team", "cart"}};
  const Json patch = PodInjector::ToJsonPatch(PlanFor(pod).mutation, pod);
  EXPECT_EQ(patch[0]["path"], "/metadata/annotations/palisade.dev~1injected");
}

}  // namespace
}  // namespace palisade::inject
