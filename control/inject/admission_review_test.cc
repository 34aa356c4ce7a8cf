#include "control/inject/admission_review.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "control/inject/manifest_injector.h"
#include "control/inject/pod_injector.h"
#include "control/inject/yaml_json.h"
#include "tests/util/status_matchers.h"

namespace palisade::inject {
namespace {

using ::palisade::testing::StatusIs;
using ::testing::Contains;
using ::testing::HasSubstr;

// A real request, as the API server sends it for a Deployment's pod.
Json ReviewFromFile() {
  std::ifstream f("control/inject/testdata/admission_review_pod.json");
  std::stringstream text;
  text << f.rdbuf();
  return Json::parse(text.str());
}

Json Answer(const Json& review, const InjectOptions& options = InjectOptions()) {
  absl::StatusOr<std::string> answer = HandleAdmissionReview(review.dump(), options);
  EXPECT_TRUE(answer.ok()) << answer.status();
  return answer.ok() ? Json::parse(*answer) : Json();
}

Json DecodedPatch(const Json& response) {
  std::string patch;
  EXPECT_TRUE(absl::Base64Unescape(response["patch"].get<std::string>(), &patch));
  return Json::parse(patch);
}

TEST(AdmissionReviewTest, AnswersWithTheRequestsUidAndAJsonPatch) {
  const Json answer = Answer(ReviewFromFile());
  EXPECT_EQ(answer["apiVersion"], "admission.k8s.io/v1");
  EXPECT_EQ(answer["kind"], "AdmissionReview");
  const Json& response = answer["response"];
  EXPECT_EQ(response["uid"], "0df28fbd-5f5f-11e8-bc74-36e6bb280816");
  EXPECT_EQ(response["allowed"], true);
  EXPECT_EQ(response["patchType"], "JSONPatch");
  const Json patch = DecodedPatch(response);
  ASSERT_TRUE(patch.is_array());
  EXPECT_EQ(patch[0]["path"], "/metadata/annotations");
}

// The webhook and the CLI make the same pod: the patch applied to the
// request's pod equals InjectManifests' output for that pod as YAML.
TEST(AdmissionReviewTest, PatchedPodEqualsTheCliInjectorsPod) {
  const Json review = ReviewFromFile();
  const Json& pod = review["request"]["object"];
  const nlohmann::json patched =
      nlohmann::json(pod).patch(nlohmann::json(DecodedPatch(Answer(review)["response"])));

  absl::StatusOr<std::string> cli = InjectManifests(JsonToYaml(pod), InjectOptions());
  ASSERT_TRUE(cli.ok()) << cli.status();
  absl::StatusOr<Json> from_cli = YamlToJson(YAML::Load(*cli));
  ASSERT_TRUE(from_cli.ok());
  EXPECT_EQ(patched, nlohmann::json(*from_cli));
}

TEST(AdmissionReviewTest, GivesNoPatchForAnInjectedPod) {
  Json review = ReviewFromFile();
  Json& pod = review["request"]["object"];
  const nlohmann::json patched =
      nlohmann::json(pod).patch(nlohmann::json(DecodedPatch(Answer(review)["response"])));
  pod = Json(patched);
  const Json response = Answer(review)["response"];
  EXPECT_EQ(response["allowed"], true);
  EXPECT_FALSE(response.contains("patch"));
}

TEST(AdmissionReviewTest, GivesNoPatchForAnOptedOutPod) {
  Json review = ReviewFromFile();
  review["request"]["object"]["metadata"]["labels"]["palisade.dev/inject"] = "false";
  const Json response = Answer(review)["response"];
  EXPECT_EQ(response["allowed"], true);
  EXPECT_FALSE(response.contains("patch"));
}

TEST(AdmissionReviewTest, LetsOtherKindsAndOperationsThroughUnchanged) {
  Json update = ReviewFromFile();
  update["request"]["operation"] = "UPDATE";
  EXPECT_FALSE(Answer(update)["response"].contains("patch"));
  Json binding = ReviewFromFile();
  binding["request"]["subResource"] = "binding";
  EXPECT_FALSE(Answer(binding)["response"].contains("patch"));
  Json config_map = ReviewFromFile();
  config_map["request"]["kind"] = {{"group", ""}, {"version", "v1"}, {"kind", "ConfigMap"}};
  const Json response = Answer(config_map)["response"];
  EXPECT_EQ(response["allowed"], true);
  EXPECT_FALSE(response.contains("patch"));
}

TEST(AdmissionReviewTest, RefusesAPodThatCannotBeInjectedAndSaysWhy) {
  Json review = ReviewFromFile();
  review["request"]["object"]["spec"]["volumes"].push_back(
      {{"name", "palisade-identity"}, {"emptyDir", Json::object()}});
  const Json response = Answer(review)["response"];
  EXPECT_EQ(response["allowed"], false);
  EXPECT_EQ(response["status"]["code"], 400);
  EXPECT_THAT(response["status"]["message"].get<std::string>(),
              HasSubstr("Pod palisade-sample/frontend-7d9f8c6b5d-: spec.volumes already has"));
}

TEST(AdmissionReviewTest, ReturnsTheInjectorsWarnings) {
  Json review = ReviewFromFile();
  review["request"]["object"]["spec"]["containers"][0]["livenessProbe"] = {
      {"httpGet", {{"path", "/"}, {"port", 8080}}}};
  const Json response = Answer(review)["response"];
  EXPECT_TRUE(response.contains("patch"));
  EXPECT_THAT(response["warnings"], Contains(HasSubstr("palisade: container \"frontend\"")));
}

TEST(AdmissionReviewTest, RefusesABodyThatIsNotAnAdmissionReviewV1) {
  EXPECT_THAT(HandleAdmissionReview("{not json", InjectOptions()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a JSON object")));
  Json v1beta1 = ReviewFromFile();
  v1beta1["apiVersion"] = "admission.k8s.io/v1beta1";
  EXPECT_THAT(HandleAdmissionReview(v1beta1.dump(), InjectOptions()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("admission.k8s.io/v1beta1")));
  Json no_uid = ReviewFromFile();
  no_uid["request"].erase("uid");
  EXPECT_THAT(HandleAdmissionReview(no_uid.dump(), InjectOptions()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("uid")));
}

}  // namespace
}  // namespace palisade::inject
