// YAML onto any protobuf message, through its descriptor: the YAML keys are the
// proto field names, and anything the schema does not allow (unknown keys, wrong
// types, duplicates, out-of-range numbers, two members of one oneof) is refused
// with the field path and the line and column where it was written.
#ifndef PALISADE_PROXY_CONFIG_YAML_TO_PROTO_H_
#define PALISADE_PROXY_CONFIG_YAML_TO_PROTO_H_

#include <google/protobuf/message.h>
#include <yaml-cpp/yaml.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "proxy/config/config_errors.h"

namespace palisade::config {

// How values are written:
//   message            a map of field name to value; `{}` sets an empty message
//   repeated field     a list
//   map<K, V> field    a map of key to value
//   string, bytes      any scalar (quoted or not)
//   integers           whole decimal numbers within the field type's range
//   float, double      decimal numbers (no inf or nan)
//   bool               true or false
//   enum               the value's name
//   google.protobuf.Duration      "250ms", "10s", "1.5m", "1h" (zero or more)
//   google.protobuf.*Value        the wrapped scalar
// A quoted scalar is a string, never a number or bool. A null value (`key:`,
// `key: ~`) leaves the field unset.

// Parses `yaml` as one YAML document and fills `message` (cleared first).
// On failure returns InvalidArgument naming `source_name` and listing every
// problem found (up to ConfigErrors::kDefaultMaxListed); `message` then holds
// what could be converted. `positions`, if given, receives where each field
// was written.
absl::Status YamlToProto(absl::string_view yaml, absl::string_view source_name,
                         google::protobuf::Message* message, FieldPositions* positions = nullptr);

// The same, adding problems to `errors` instead of returning them (so a caller
// can report them together with its own checks).
void YamlToProto(absl::string_view yaml, google::protobuf::Message* message, ConfigErrors* errors,
                 FieldPositions* positions);

// Converts an already parsed document; `message` is not cleared first.
void YamlNodeToProto(const YAML::Node& node, google::protobuf::Message* message,
                     ConfigErrors* errors, FieldPositions* positions);

}  // namespace palisade::config

#endif  // PALISADE_PROXY_CONFIG_YAML_TO_PROTO_H_
