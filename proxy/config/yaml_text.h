// How the YAML converter reads and shows text: where a node is, whether a
// scalar was quoted, the strict number and boolean forms it accepts, how
// values appear in error messages, and "did you mean" for a misspelt key.
#ifndef PALISADE_PROXY_CONFIG_YAML_TEXT_H_
#define PALISADE_PROXY_CONFIG_YAML_TEXT_H_

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "proxy/config/config_errors.h"

namespace palisade::config {

// The node's 1-based position; line 0 when yaml-cpp does not know it.
SourcePosition PositionOf(const YAML::Node& node);

// `"10"` and `!!str 10` are strings, never numbers or bools.
bool IsQuoted(const YAML::Node& node);

// [+-]digits. Decimal only: YAML 1.1's octal, hex and sexagesimal forms
// surprise more than they help.
bool IsDecimalInteger(absl::string_view text);

// [+-] digits [. digits] [e [+-] digits], with a digit on at least one side
// of the point. No inf or nan.
bool IsDecimalNumber(absl::string_view text);

// YAML 1.2's core booleans (true/True/TRUE, false/False/FALSE); YAML 1.1's
// yes/no/on/off are refused as ambiguous.
bool ParseYamlBool(absl::string_view text, bool* value);

// A scalar as shown in messages: quoted, escaped, shortened.
std::string Show(absl::string_view scalar);

// "a map", "a list", a shown scalar, or "nothing".
std::string Describe(const YAML::Node& node);

// The candidate `name` most likely meant (same letters in another case or
// with '_'/'-' differences, or a small typo), or "" if none is close.
std::string SuggestName(absl::string_view name, const std::vector<std::string>& candidates);

}  // namespace palisade::config

#endif  // PALISADE_PROXY_CONFIG_YAML_TEXT_H_
