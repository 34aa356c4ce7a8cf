// Kubernetes YAML <-> JSON values, typed as kubectl types them: plain
// scalars resolve to null, booleans (YAML 1.1's yes/no/on/off included) and
// numbers; quoted ones stay strings. Written back as block YAML that reads
// back to the same value (strings that would resolve to something else are
// quoted). Field order is kept; comments and anchors are not.
#ifndef PALISADE_CONTROL_INJECT_YAML_JSON_H_
#define PALISADE_CONTROL_INJECT_YAML_JSON_H_

#include <yaml-cpp/yaml.h>

#include <string>

#include "absl/status/statusor.h"
#include "control/inject/pod_injector.h"

namespace palisade::inject {

// InvalidArgument for what JSON cannot hold (a map key that is not a scalar).
absl::StatusOr<Json> YamlToJson(const YAML::Node& node);

// One YAML document (no "---"), ending in a newline.
std::string JsonToYaml(const Json& value);

}  // namespace palisade::inject

#endif  // PALISADE_CONTROL_INJECT_YAML_JSON_H_
