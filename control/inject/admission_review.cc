#include "control/inject/admission_review.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "control/inject/pod_injector.h"
#include "runtime/status/status_macros.h"

namespace palisade::inject {
namespace {

constexpr char kApiVersion[] = "admission.k8s.io/v1";

std::string StringAt(const Json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

absl::StatusOr<std::string> HandleAdmissionReview(absl::string_view request_json,
                                                  const InjectOptions& options) {
  ASSIGN_OR_RETURN(PodInjector injector, PodInjector::Create(options));
  const Json review = Json::parse(request_json.begin(), request_json.end(), nullptr,
                                  /*allow_exceptions=*/false);
  if (review.is_discarded() || !review.is_object()) {
    return absl::InvalidArgumentError("AdmissionReview: the body is not a JSON object");
  }
  if (StringAt(review, "apiVersion") != kApiVersion ||
      StringAt(review, "kind") != "AdmissionReview") {
    return absl::InvalidArgumentError(absl::StrCat(
        "AdmissionReview: expected apiVersion ", kApiVersion, " and kind AdmissionReview, got \"",
        StringAt(review, "apiVersion"), "\" and \"", StringAt(review, "kind"), "\""));
  }
  if (!review.contains("request") || !review["request"].is_object()) {
    return absl::InvalidArgumentError("AdmissionReview: no request");
  }
  const Json& request = review["request"];
  const std::string uid = StringAt(request, "uid");
  if (uid.empty()) return absl::InvalidArgumentError("AdmissionReview: request.uid is missing");

  Json response = {{"uid", uid}, {"allowed", true}};
  auto answer = [&response] {
    return Json{{"apiVersion", kApiVersion}, {"kind", "AdmissionReview"}, {"response", response}}
        .dump();
  };
  const Json kind = request.value("kind", Json::object());
  const bool is_pod =
      kind.is_object() && StringAt(kind, "group").empty() && StringAt(kind, "kind") == "Pod" &&
      StringAt(request, "operation") == "CREATE" && StringAt(request, "subResource").empty();
  if (!is_pod || !request.contains("object") || !request["object"].is_object()) return answer();

  const Json& pod = request["object"];
  std::string name = StringAt(pod.value("metadata", Json::object()), "name");
  if (name.empty()) name = StringAt(pod.value("metadata", Json::object()), "generateName");
  const std::string what = absl::StrCat("Pod ", StringAt(request, "namespace"), "/", name);

  absl::StatusOr<InjectPlan> plan =
      pod.contains("spec") && pod["spec"].is_object()
          ? injector.Plan(pod.value("metadata", Json()), pod["spec"])
          : absl::StatusOr<InjectPlan>(absl::InvalidArgumentError("spec is missing"));
  if (!plan.ok()) {
    response["allowed"] = false;
    response["status"] = {
        {"code", 400},
        {"message",
         absl::StrCat("palisade sidecar injection: ", what, ": ", plan.status().message(),
                      " (or set ", kInjectKey, ": \"false\" to leave the pod out of the mesh)")}};
    return answer();
  }
  if (!plan->warnings.empty()) {
    Json warnings = Json::array();
    for (const std::string& w : plan->warnings) warnings.push_back("palisade: " + w);
    response["warnings"] = warnings;
  }
  if (plan->inject) {
    response["patchType"] = "JSONPatch";
    response["patch"] = absl::Base64Escape(PodInjector::ToJsonPatch(plan->mutation, pod).dump());
  }
  return answer();
}

}  // namespace palisade::inject
