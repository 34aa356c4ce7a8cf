#include "control/inject/manifest_injector.h"

#include <yaml-cpp/yaml.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "control/inject/pod_injector.h"
#include "control/inject/yaml_json.h"
#include "runtime/status/status_macros.h"

namespace palisade::inject {
namespace {

// One document's text, from its "---" line (if any) to the next one.
struct Chunk {
  std::string text;
  bool has_separator = false;
};

bool IsSeparatorLine(absl::string_view line) {
  return absl::StartsWith(line, "---") && (line.size() == 3 || line[3] == ' ' || line[3] == '\t' ||
                                           line[3] == '\r' || line[3] == '\n');
}

// Splits at "---" lines. A "---" at column 0 cannot occur inside a document's
// content (block scalars are indented), so every chunk parses on its own and
// the untouched ones can be written back exactly.
std::vector<Chunk> SplitDocuments(absl::string_view text) {
  std::vector<Chunk> chunks(1);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    end = end == absl::string_view::npos ? text.size() : end + 1;
    const absl::string_view line = text.substr(pos, end - pos);
    if (IsSeparatorLine(line) && (!chunks.back().text.empty() || chunks.back().has_separator)) {
      chunks.emplace_back();
    }
    if (IsSeparatorLine(line)) chunks.back().has_separator = true;
    absl::StrAppend(&chunks.back().text, line);
    pos = end;
  }
  return chunks;
}

std::string StringField(const Json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

// "Deployment shop/cart", from the object's kind and metadata.
std::string Describe(const Json& object) {
  const Json metadata =
      object.is_object() && object.contains("metadata") ? object["metadata"] : Json();
  std::string name = StringField(metadata, "name");
  if (name.empty()) name = StringField(metadata, "generateName");
  if (name.empty()) name = "(unnamed)";
  const std::string ns = StringField(metadata, "namespace");
  const std::string kind = StringField(object, "kind");
  return absl::StrCat(kind.empty() ? "(no kind)" : kind, " ", ns.empty() ? "" : ns + "/", name);
}

class DocumentInjector {
 public:
  DocumentInjector(const PodInjector& injector, InjectReport* report)
      : injector_(injector), report_(report) {}

  // Injects into `object` (and a List's items). True when it changed.
  absl::StatusOr<bool> Inject(Json* object) {
    const std::string kind = StringField(*object, "kind");
    if (kind == "List") {
      if (!object->contains("items") || !(*object)["items"].is_array()) return false;
      bool changed = false;
      Json& items = (*object)["items"];
      for (size_t i = 0; i < items.size(); ++i) {
        absl::StatusOr<bool> item = Inject(&items[i]);
        if (!item.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat("items[", i, "] ", item.status().message()));
        }
        changed |= *item;
      }
      return changed;
    }
    const char* const* path = TemplatePath(kind);
    if (path == nullptr) return false;
    const std::string what = Describe(*object);
    auto fail = [&what](absl::string_view message) {
      return absl::InvalidArgumentError(absl::StrCat("(", what, "): ", message));
    };
    // Walk to the object that holds the pod's metadata and spec.
    Json* pod = object;
    std::string where;
    for (const char* const* step = path; *step != nullptr; ++step) {
      where = where.empty() ? *step : absl::StrCat(where, ".", *step);
      if (!pod->is_object() || !pod->contains(*step) || !(*pod)[*step].is_object()) {
        return fail(absl::StrCat(where, " is missing or not a map"));
      }
      pod = &(*pod)[*step];
    }
    if (!pod->contains("spec") || !(*pod)["spec"].is_object()) {
      return fail(absl::StrCat(where.empty() ? "" : where + ".", "spec is missing or not a map"));
    }
    const Json metadata = pod->contains("metadata") ? (*pod)["metadata"] : Json();
    const Json owner_metadata =
        pod != object && object->contains("metadata") ? (*object)["metadata"] : Json();
    absl::StatusOr<InjectPlan> plan = injector_.Plan(metadata, (*pod)["spec"], owner_metadata);
    if (!plan.ok()) {
      return fail(absl::StrCat(where.empty() ? "" : where + ": ", plan.status().message()));
    }
    if (report_ != nullptr) {
      for (const std::string& w : plan->warnings) report_->warnings.push_back(what + ": " + w);
    }
    if (!plan->inject) {
      if (report_ != nullptr) report_->skipped.push_back(what + ": " + plan->skip_reason);
      return false;
    }
    PodInjector::Apply(plan->mutation, pod);
    if (report_ != nullptr) report_->injected.push_back(what);
    return true;
  }

 private:
  // The fields from the object to its pod template; null for kinds without pods.
  static const char* const* TemplatePath(const std::string& kind) {
    static const char* const kPod[] = {nullptr};
    static const char* const kTemplate[] = {"spec", "template", nullptr};
    static const char* const kCronJob[] = {"spec", "jobTemplate", "spec", "template", nullptr};
    if (kind == "Pod") return kPod;
    if (kind == "Deployment" || kind == "StatefulSet" || kind == "DaemonSet" ||
        kind == "ReplicaSet" || kind == "ReplicationController" || kind == "Job") {
      return kTemplate;
    }
    if (kind == "CronJob") return kCronJob;
    return nullptr;
  }

  const PodInjector& injector_;
  InjectReport* report_;
};

}  // namespace

absl::StatusOr<std::string> InjectManifests(absl::string_view yaml, const InjectOptions& options,
                                            InjectReport* report) {
  ASSIGN_OR_RETURN(PodInjector injector, PodInjector::Create(options));
  DocumentInjector documents(injector, report);
  std::string out;
  int index = 0;
  for (const Chunk& chunk : SplitDocuments(yaml)) {
    YAML::Node node;
    try {
      node = YAML::Load(chunk.text);
    } catch (const YAML::Exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat("document ", index + 1, ": not valid YAML: ", e.what()));
    }
    if (!node.IsDefined() || node.IsNull()) {  // only comments or blank lines
      out += chunk.text;
      continue;
    }
    ++index;
    absl::StatusOr<Json> object = YamlToJson(node);
    if (!object.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("document ", index, ": ", object.status().message()));
    }
    absl::StatusOr<bool> changed = documents.Inject(&*object);
    if (!changed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("document ", index, " ", changed.status().message()));
    }
    if (!*changed) {
      out += chunk.text;
      continue;
    }
    if (!out.empty() && out.back() != '\n') out += '\n';
    if (chunk.has_separator) out += "---\n";
    out += JsonToYaml(*object);
  }
  return out;
}

}  // namespace palisade::inject
