#include "control/inject/manifest_injector.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "tests/util/status_matchers.h"

namespace palisade::inject {
namespace {

using ::palisade::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kPodSpec[] = R"(
    spec:
      containers:
        - name: app
          image: app:1
)";

std::string Workload(const std::string& kind, const std::string& name) {
  const std::string api = kind == "Job" || kind == "CronJob" ? "batch/v1" : "apps/v1";
  const std::string spec = kPodSpec;
  if (kind == "CronJob") {
    return "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: " + name +
           "\nspec:\n  schedule: \"* * * * *\"\n  jobTemplate:\n    spec:\n      template:\n  "
           "      spec:\n          restartPolicy: Never\n          containers:\n            - "
           "name: "
           "app\n              image: app:1\n";
  }
  return "apiVersion: " + api + "\nkind: " + kind + "\nmetadata:\n  name: " + name +
         "\nspec:\n  template:" + spec;
}

std::string Inject(const std::string& yaml, InjectReport* report = nullptr) {
  absl::StatusOr<std::string> out = InjectManifests(yaml, InjectOptions(), report);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : "";
}

std::vector<YAML::Node> Documents(const std::string& yaml) { return YAML::LoadAll(yaml); }

bool HasProxy(const YAML::Node& pod_spec) {
  for (const YAML::Node& c : pod_spec["initContainers"]) {
    if (c["name"].as<std::string>() == "palisade-proxy") return true;
  }
  return false;
}

TEST(ManifestInjectorTest, InjectsThePodTemplateOfEveryWorkloadKind) {
  std::string yaml =
      "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: app\n"
      "      image: app:1\n";
  for (const char* kind : {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}) {
    yaml += "---\n" + Workload(kind, "w");
  }
  yaml += "---\n" + Workload("CronJob", "c");
  InjectReport report;
  const std::vector<YAML::Node> docs = Documents(Inject(yaml, &report));
  ASSERT_EQ(docs.size(), 7u);
  EXPECT_TRUE(HasProxy(docs[0]["spec"]));
  for (int i = 1; i < 6; ++i) EXPECT_TRUE(HasProxy(docs[i]["spec"]["template"]["spec"])) << i;
  EXPECT_TRUE(HasProxy(docs[6]["spec"]["jobTemplate"]["spec"]["template"]["spec"]));
  EXPECT_EQ(report.injected.size(), 7u);
  EXPECT_EQ(report.injected[1], "Deployment w");
}

TEST(ManifestInjectorTest, PassesOtherDocumentsThroughByteForByte) {
  const std::string service =
      "# the cart service\napiVersion: v1\nkind: Service\nmetadata: {name: cart}  # flow style\n"
      "spec:\n  ports: [{port: 80}]\n";
  const std::string config_map =
      "---\napiVersion: v1\nkind: ConfigMap\ndata:\n  script: |\n    ---\n    echo hi\n";
  const std::string yaml = service + config_map + "---\n" + Workload("Deployment", "cart");
  const std::string out = Inject(yaml);
  EXPECT_EQ(out.substr(0, service.size() + config_map.size()), service + config_map);
  EXPECT_THAT(out, HasSubstr("palisade-proxy"));
}

TEST(ManifestInjectorTest, InjectingTwiceChangesNothing) {
  const std::string once = Inject(Workload("Deployment", "cart") + "---\n" + Workload("Job", "j"));
  EXPECT_EQ(Inject(once), once);
}

TEST(ManifestInjectorTest, LeavesAnOptedOutWorkloadExactlyAsWritten) {
  const std::string yaml =
      "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: legacy\n  annotations:\n"
      "    palisade.dev/inject: \"false\"   # talks to the mainframe\nspec:\n  template:" +
      std::string(kPodSpec);
  InjectReport report;
  EXPECT_EQ(Inject(yaml, &report), yaml);
  EXPECT_THAT(report.skipped, ElementsAre(HasSubstr("Deployment legacy")));
}

TEST(ManifestInjectorTest, InjectsTheItemsOfAList) {
  const std::string yaml =
      "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Pod\n    metadata:\n"
      "      name: a\n    spec:\n      containers:\n        - name: app\n          image: x\n"
      "  - apiVersion: v1\n    kind: Service\n    metadata:\n      name: s\n";
  const std::vector<YAML::Node> docs = Documents(Inject(yaml));
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_TRUE(HasProxy(docs[0]["items"][0]["spec"]));
  EXPECT_EQ(docs[0]["items"][1]["kind"].as<std::string>(), "Service");
}

TEST(ManifestInjectorTest, KeepsCommentsAndSeparatorsBetweenDocuments) {
  const std::string out = Inject(
      "---\n# header comment only\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n"
      "  containers:\n    - name: app\n      image: x\n");
  EXPECT_EQ(out.substr(0, 30), "---\n# header comment only\n---\n");
  EXPECT_EQ(Documents(out).size(), 2u);  // yaml-cpp counts the comment-only document
}

TEST(ManifestInjectorTest, NamesTheDocumentKindAndNameInErrors) {
  const std::string bad =
      "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: cart\n  namespace: shop\nspec:\n"
      "  template:\n    spec:\n      containers: [{name: app, image: x}]\n      volumes:\n"
      "        - name: palisade-identity\n          emptyDir: {}\n";
  EXPECT_THAT(
      InjectManifests("kind: Service\n---\n" + bad, InjectOptions()),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("document 2 (Deployment shop/cart): spec.template: spec.volumes already "
                         "has a volume named \"palisade-identity\"")));
  EXPECT_THAT(InjectManifests("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n",
                              InjectOptions()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("document 1 (Deployment d): spec is missing")));
}

TEST(ManifestInjectorTest, ReportsInvalidYamlWithItsDocument) {
  EXPECT_THAT(
      InjectManifests("kind: Service\n---\nkind: [unclosed\n", InjectOptions()),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("document 2: not valid YAML")));
}

TEST(ManifestInjectorTest, ReportsWarningsWithTheWorkload) {
  const std::string yaml =
      "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  containers:\n"
      "    - name: web\n      image: x\n      readinessProbe:\n        httpGet:\n          port: "
      "80\n";
  InjectReport report;
  Inject(yaml, &report);
  EXPECT_THAT(report.warnings,
              ElementsAre(HasSubstr("Pod shop/web: container \"web\": readinessProbe (httpGet)")));
}

TEST(ManifestInjectorTest, RefusesInvalidOptions) {
  InjectOptions options;
  options.inbound_port = 0;
  EXPECT_THAT(InjectManifests("kind: Service\n", options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("inbound_port")));
}

}  // namespace
}  // namespace palisade::inject
