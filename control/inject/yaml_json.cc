#include "control/inject/yaml_json.h"

#include <cerrno>
#include <cstdlib>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "runtime/status/status_macros.h"

namespace palisade::inject {
namespace {

bool AllOf(absl::string_view s, bool (*pred)(unsigned char)) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!pred(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool IsOctalDigit(unsigned char c) { return c >= '0' && c <= '7'; }
bool IsBinaryDigit(unsigned char c) { return c == '0' || c == '1'; }
bool IsDigit(unsigned char c) { return absl::ascii_isdigit(c); }
bool IsHexDigit(unsigned char c) { return absl::ascii_isxdigit(c); }

// An integer as Go's yaml (sigs.k8s.io/yaml) reads a plain scalar: decimal,
// 0x hex, 0b binary, and a leading 0 for octal.
std::optional<Json> ResolveInteger(absl::string_view text) {
  absl::string_view digits = text;
  bool negative = false;
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  int base = 10;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    base = 16;
    digits.remove_prefix(2);
    if (!AllOf(digits, IsHexDigit)) return std::nullopt;
  } else if (digits.size() > 2 && digits[0] == '0' && digits[1] == 'b') {
    base = 2;
    digits.remove_prefix(2);
    if (!AllOf(digits, IsBinaryDigit)) return std::nullopt;
  } else if (digits.size() > 1 && digits[0] == '0') {
    base = 8;
    if (!AllOf(digits, IsOctalDigit)) return std::nullopt;
  } else if (!AllOf(digits, IsDigit)) {
    return std::nullopt;
  }
  const std::string s(digits);
  errno = 0;
  char* end = nullptr;
  const unsigned long long magnitude = std::strtoull(s.c_str(), &end, base);
  if (errno == ERANGE || end != s.c_str() + s.size()) return std::nullopt;
  if (!negative) {
    if (magnitude <= static_cast<unsigned long long>(INT64_MAX)) {
      return Json(static_cast<int64_t>(magnitude));
    }
    return Json(static_cast<uint64_t>(magnitude));
  }
  if (magnitude <= static_cast<unsigned long long>(INT64_MAX) + 1) {
    return Json(static_cast<int64_t>(0 - magnitude));
  }
  return std::nullopt;
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
std::optional<Json> ResolveFloat(absl::string_view text) {
  size_t i = 0;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) ++i;
  size_t int_digits = 0, frac_digits = 0;
  while (i < text.size() && absl::ascii_isdigit(text[i])) ++i, ++int_digits;
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && absl::ascii_isdigit(text[i])) ++i, ++frac_digits;
  }
  if (int_digits == 0 && frac_digits == 0) return std::nullopt;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) ++i;
    size_t exp_digits = 0;
    while (i < text.size() && absl::ascii_isdigit(text[i])) ++i, ++exp_digits;
    if (exp_digits == 0) return std::nullopt;
  }
  if (i != text.size()) return std::nullopt;
  double value = 0;
  if (!absl::SimpleAtod(text, &value)) return std::nullopt;
  return Json(value);
}

// What a plain (unquoted, untagged) scalar means.
Json ResolvePlain(const std::string& text) {
  static const char* const kNull[] = {"", "~", "null", "Null", "NULL"};
  static const char* const kTrue[] = {"true", "True", "TRUE", "yes", "Yes", "YES",
                                      "on",   "On",   "ON",   "y",   "Y"};
  static const char* const kFalse[] = {"false", "False", "FALSE", "no", "No", "NO",
                                       "off",   "Off",   "OFF",   "n",  "N"};
  for (const char* s : kNull) {
    if (text == s) return Json(nullptr);
  }
  for (const char* s : kTrue) {
    if (text == s) return Json(true);
  }
  for (const char* s : kFalse) {
    if (text == s) return Json(false);
  }
  if (std::optional<Json> i = ResolveInteger(text)) return *i;
  if (std::optional<Json> f = ResolveFloat(text)) return *f;
  return Json(text);
}

absl::StatusOr<Json> Convert(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return Json(nullptr);
    case YAML::NodeType::Scalar: {
      const std::string& tag = node.Tag();
      if (tag == "?") return ResolvePlain(node.Scalar());
      if (tag == "tag:yaml.org,2002:int" || tag == "tag:yaml.org,2002:float" ||
          tag == "tag:yaml.org,2002:bool" || tag == "tag:yaml.org,2002:null") {
        return ResolvePlain(node.Scalar());
      }
      return Json(node.Scalar());  // quoted, block, or tagged as a string
    }
    case YAML::NodeType::Sequence: {
      Json array = Json::array();
      for (const YAML::Node& item : node) {
        ASSIGN_OR_RETURN(Json value, Convert(item));
        array.push_back(std::move(value));
      }
      return array;
    }
    case YAML::NodeType::Map: {
      Json object = Json::object();
      for (const auto& entry : node) {
        if (!entry.first.IsScalar()) {
          return absl::InvalidArgumentError(
              absl::StrCat("line ", entry.first.Mark().line + 1, ": a map key is not a scalar"));
        }
        ASSIGN_OR_RETURN(Json value, Convert(entry.second));
        object[entry.first.Scalar()] = std::move(value);
      }
      return object;
    }
  }
  return Json(nullptr);
}

// True when `s`, written plain, would read back as something else (or
// would not be a plain scalar at all).
bool NeedsQuotes(const std::string& s) {
  if (!ResolvePlain(s).is_string()) return true;
  if (absl::ascii_isspace(static_cast<unsigned char>(s.front())) ||
      absl::ascii_isspace(static_cast<unsigned char>(s.back()))) {
    return true;
  }
  // "-q" and "?x" are plain scalars; "- q", "-" and the other indicators are not.
  if (std::string("-?:").find(s.front()) != std::string::npos && (s.size() == 1 || s[1] == ' ')) {
    return true;
  }
  if (std::string(",[]{}#&*!|>'\"%@`").find(s.front()) != std::string::npos) return true;
  for (char c : s) {
    if (c == '\n' || c == '\t' || c == '\r' || static_cast<unsigned char>(c) < 0x20) return true;
  }
  return s.find(": ") != std::string::npos || s.find(" #") != std::string::npos || s.back() == ':';
}

// A literal block (|) reads back as exactly `s` when `s` ends in one
// newline, starts with no space (else an indentation indicator is needed)
// and holds only printable characters and tabs.
bool FitsLiteralBlock(const std::string& s) {
  if (s.size() < 2 || s.back() != '\n' || s[s.size() - 2] == '\n' || s.front() == ' ' ||
      s.front() == '\n') {
    return false;
  }
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = s[i];
    if (c == '\r' || (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) return false;
    // A line that starts with a space after an empty line would look like more indentation.
    if (c == '\n' && i + 1 < s.size() && s[i + 1] == ' ' && i > 0 && s[i - 1] == '\n') {
      return false;
    }
  }
  return true;
}

void EmitString(const std::string& s, YAML::Emitter* out) {
  if (s.find('\n') != std::string::npos && FitsLiteralBlock(s)) {
    *out << YAML::Literal;
  } else if (NeedsQuotes(s)) {
    *out << YAML::DoubleQuoted;
  }
  *out << s;
}

void Emit(const Json& value, YAML::Emitter* out) {
  switch (value.type()) {
    case Json::value_t::null:
      *out << YAML::Null;
      return;
    case Json::value_t::boolean:
      *out << (value.get<bool>() ? "true" : "false");
      return;
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      // nlohmann prints the shortest text that reads back to the same number.
      *out << value.dump();
      return;
    case Json::value_t::string:
      EmitString(value.get<std::string>(), out);
      return;
    case Json::value_t::array:
      if (value.empty()) {
        *out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        return;
      }
      *out << YAML::BeginSeq;
      for (const Json& item : value) Emit(item, out);
      *out << YAML::EndSeq;
      return;
    case Json::value_t::object:
      if (value.empty()) {
        *out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        return;
      }
      *out << YAML::BeginMap;
      for (const auto& [key, item] : value.items()) {
        *out << YAML::Key;
        EmitString(key, out);
        *out << YAML::Value;
        Emit(item, out);
      }
      *out << YAML::EndMap;
      return;
    default:
      *out << YAML::Null;
      return;
  }
}

}  // namespace

absl::StatusOr<Json> YamlToJson(const YAML::Node& node) { return Convert(node); }

std::string JsonToYaml(const Json& value) {
  YAML::Emitter out;
  out.SetIndent(2);
  Emit(value, &out);
  std::string text = out.c_str();
  if (text.empty() || text.back() != '\n') text += '\n';
  return text;
}

}  // namespace palisade::inject
