#include "proxy/config/yaml_to_proto.h"

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "proxy/config/yaml_text.h"

namespace palisade::config {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumValueDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::OneofDescriptor;
using google::protobuf::Reflection;

// Aliases let a small file expand into a huge tree; stop well before that hurts.
constexpr int kMaxNodes = 1000000;
// google.protobuf.Duration's documented range.
constexpr int64_t kMaxDurationSeconds = 315576000000;

std::string Join(absl::string_view path, absl::string_view field) {
  return path.empty() ? std::string(field) : absl::StrCat(path, ".", field);
}

std::vector<std::string> FieldNames(const Descriptor* descriptor) {
  std::vector<std::string> names;
  for (int i = 0; i < descriptor->field_count(); ++i) names.push_back(descriptor->field(i)->name());
  return names;
}

bool IsWrapper(const Descriptor* d) {
  const std::string& n = d->full_name();
  return n == "google.protobuf.DoubleValue" || n == "google.protobuf.FloatValue" ||
         n == "google.protobuf.Int64Value" || n == "google.protobuf.UInt64Value" ||
         n == "google.protobuf.Int32Value" || n == "google.protobuf.UInt32Value" ||
         n == "google.protobuf.BoolValue" || n == "google.protobuf.StringValue" ||
         n == "google.protobuf.BytesValue";
}

bool IsDuration(const Descriptor* d) { return d->full_name() == "google.protobuf.Duration"; }

// What a field wants, for "expected ..., got ..." messages.
std::string Expected(const FieldDescriptor* field) {
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat("a whole number (", field->type_name(), ")");
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT:
      return "a number";
    case FieldDescriptor::CPPTYPE_BOOL:
      return "true or false";
    case FieldDescriptor::CPPTYPE_ENUM:
      return "one of the names of " + field->enum_type()->name();
    case FieldDescriptor::CPPTYPE_STRING:
      return "a string";
    case FieldDescriptor::CPPTYPE_MESSAGE:
      if (IsDuration(field->message_type())) return "a duration such as \"10s\"";
      if (IsWrapper(field->message_type())) return Expected(field->message_type()->field(0));
      return "a map of fields";
  }
  return "a value";
}

class Converter {
 public:
  Converter(ConfigErrors* errors, FieldPositions* positions)
      : errors_(errors), positions_(positions) {}

  void ConvertMessage(const YAML::Node& node, const std::string& path, Message* message) {
    if (!Visit(node)) return;
    if (IsDuration(message->GetDescriptor())) return ConvertDuration(node, path, message);
    if (IsWrapper(message->GetDescriptor())) {
      return ConvertScalar(node, path, message, message->GetDescriptor()->field(0));
    }
    if (!node.IsMap()) {
      return Error(path, node, absl::StrCat("expected a map of fields, got ", Describe(node)));
    }
    const Descriptor* descriptor = message->GetDescriptor();
    absl::flat_hash_map<std::string, SourcePosition> seen;
    absl::flat_hash_map<const OneofDescriptor*, std::pair<const FieldDescriptor*, SourcePosition>>
        oneof_members;
    for (auto it = node.begin(); it != node.end(); ++it) {
      // Copies (cheap handles): `it->first` lives in a temporary proxy.
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      if (!Visit(key)) return;
      if (!key.IsScalar()) {
        Error(path, key, absl::StrCat("expected a field name, got ", Describe(key)));
        continue;
      }
      const std::string child = Join(path, key.Scalar());
      const SourcePosition key_position = PositionOf(key);
      auto [first, inserted] = seen.try_emplace(key.Scalar(), key_position);
      if (!inserted) {
        errors_->Add(child, key_position,
                     absl::StrCat("duplicate field; first set at line ", first->second.line,
                                  ", column ", first->second.column));
        continue;
      }
      const FieldDescriptor* field = descriptor->FindFieldByName(key.Scalar());
      if (field == nullptr) {
        const std::vector<std::string> names = FieldNames(descriptor);
        const std::string suggestion = SuggestName(key.Scalar(), names);
        errors_->Add(
            child, key_position,
            absl::StrCat(
                "unknown field",
                suggestion.empty() ? "" : absl::StrCat(" (did you mean ", suggestion, "?)"),
                "; known fields: ", absl::StrJoin(names, ", ")));
        continue;
      }
      // Scalars are placed where their value is; maps and lists where their key is.
      if (positions_ != nullptr) {
        (*positions_)[child] = value.IsScalar() ? PositionOf(value) : key_position;
      }
      if (value.IsNull()) continue;
      if (const OneofDescriptor* oneof = field->real_containing_oneof()) {
        auto [other, first_member] = oneof_members.try_emplace(oneof, field, key_position);
        if (!first_member) {
          errors_->Add(
              child, key_position,
              absl::StrCat("cannot be set together with ", Join(path, other->second.first->name()),
                           " (line ", other->second.second.line, "); ", OneofMembers(oneof),
                           " are alternatives: set only one"));
          continue;
        }
      }
      ConvertField(value, child, message, field);
    }
  }

 private:
  static std::string OneofMembers(const OneofDescriptor* oneof) {
    std::vector<std::string> names;
    for (int i = 0; i < oneof->field_count(); ++i) names.push_back(oneof->field(i)->name());
    return absl::StrJoin(names, ", ");
  }

  // Counts nodes against the budget; false once it is spent.
  bool Visit(const YAML::Node& node) {
    if (++visited_ <= kMaxNodes) return true;
    if (visited_ == kMaxNodes + 1) {
      Error("", node,
            absl::StrCat("the document expands to more than ", kMaxNodes,
                         " values (through aliases?); refusing to read further"));
    }
    return false;
  }

  void Error(const std::string& path, const YAML::Node& node, absl::string_view message) {
    errors_->Add(path, PositionOf(node), message);
  }

  void ConvertField(const YAML::Node& node, const std::string& path, Message* message,
                    const FieldDescriptor* field) {
    if (field->is_map()) return ConvertMapField(node, path, message, field);
    if (!field->is_repeated()) return ConvertValue(node, path, message, field);
    if (!node.IsSequence()) {
      return Error(path, node, absl::StrCat("expected a list, got ", Describe(node)));
    }
    int index = 0;
    for (auto it = node.begin(); it != node.end(); ++it, ++index) {
      const YAML::Node element = *it;
      const std::string element_path = absl::StrCat(path, "[", index, "]");
      if (!Visit(element)) return;
      if (element.IsNull()) {
        // A null's own mark points at whatever follows it; the list's is reliable.
        Error(element_path, node, "empty list item");
        continue;
      }
      if (positions_ != nullptr) (*positions_)[element_path] = PositionOf(element);
      ConvertValue(element, element_path, message, field);
    }
  }

  void ConvertMapField(const YAML::Node& node, const std::string& path, Message* message,
                       const FieldDescriptor* field) {
    if (!node.IsMap()) {
      return Error(path, node, absl::StrCat("expected a map, got ", Describe(node)));
    }
    const FieldDescriptor* key_field = field->message_type()->map_key();
    const FieldDescriptor* value_field = field->message_type()->map_value();
    absl::flat_hash_map<std::string, SourcePosition> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      if (!Visit(key) || !Visit(value)) return;
      if (!key.IsScalar()) {
        Error(path, key, absl::StrCat("expected a key, got ", Describe(key)));
        continue;
      }
      const std::string entry_path =
          absl::StrCat(path, "[\"", absl::CHexEscape(key.Scalar()), "\"]");
      auto [first, inserted] = seen.try_emplace(key.Scalar(), PositionOf(key));
      if (!inserted) {
        Error(entry_path, key,
              absl::StrCat("duplicate key; first set at line ", first->second.line, ", column ",
                           first->second.column));
        continue;
      }
      if (positions_ != nullptr) (*positions_)[entry_path] = PositionOf(value);
      Message* entry = message->GetReflection()->AddMessage(message, field);
      ConvertScalar(key, entry_path, entry, key_field);
      if (value.IsNull()) {
        Error(entry_path, key, "missing value");
        continue;
      }
      ConvertValue(value, entry_path, entry, value_field);
    }
  }

  // One value of a singular field or one element of a repeated one.
  void ConvertValue(const YAML::Node& node, const std::string& path, Message* message,
                    const FieldDescriptor* field) {
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
      return ConvertScalar(node, path, message, field);
    }
    const Reflection* reflection = message->GetReflection();
    Message* child = field->is_repeated() ? reflection->AddMessage(message, field)
                                          : reflection->MutableMessage(message, field);
    ConvertMessage(node, path, child);
  }

  void ConvertDuration(const YAML::Node& node, const std::string& path, Message* message) {
    if (!node.IsScalar()) {
      return Error(path, node,
                   absl::StrCat("expected a duration such as \"10s\", got ", Describe(node)));
    }
    const std::string& text = node.Scalar();
    absl::Duration duration;
    if (!absl::ParseDuration(text, &duration)) {
      if (IsDecimalNumber(text) && !IsQuoted(node)) {
        return Error(
            path, node,
            absl::StrCat(text, " has no unit; write e.g. \"", text, "s\" or \"", text, "ms\""));
      }
      return Error(
          path, node,
          absl::StrCat(Show(text), " is not a duration; write e.g. \"500ms\", \"10s\" or \"2m\""));
    }
    if (duration < absl::ZeroDuration()) {
      return Error(path, node,
                   absl::StrCat(Show(text), " is negative; a duration must be zero or more"));
    }
    if (duration > absl::Seconds(kMaxDurationSeconds)) {
      return Error(path, node, absl::StrCat(Show(text), " is too long (10000 years at most)"));
    }
    const int64_t seconds = absl::IDivDuration(duration, absl::Seconds(1), &duration);
    const int32_t nanos = static_cast<int32_t>(absl::ToInt64Nanoseconds(duration));
    const Descriptor* descriptor = message->GetDescriptor();
    const Reflection* reflection = message->GetReflection();
    reflection->SetInt64(message, descriptor->FindFieldByName("seconds"), seconds);
    reflection->SetInt32(message, descriptor->FindFieldByName("nanos"), nanos);
  }

  void ConvertScalar(const YAML::Node& node, const std::string& path, Message* message,
                     const FieldDescriptor* field) {
    if (!node.IsScalar()) {
      return Error(path, node,
                   absl::StrCat("expected ", Expected(field), ", got ", Describe(node)));
    }
    const std::string& text = node.Scalar();
    const Reflection* reflection = message->GetReflection();
    const bool repeated = field->is_repeated();
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        repeated ? reflection->AddString(message, field, text)
                 : reflection->SetString(message, field, text);
        return;
      case FieldDescriptor::CPPTYPE_BOOL: {
        bool value;
        if (IsQuoted(node) || !ParseYamlBool(text, &value)) {
          return Error(path, node, absl::StrCat("expected true or false, got ", Show(text)));
        }
        repeated ? reflection->AddBool(message, field, value)
                 : reflection->SetBool(message, field, value);
        return;
      }
      case FieldDescriptor::CPPTYPE_ENUM: {
        const EnumValueDescriptor* value = field->enum_type()->FindValueByName(text);
        if (value == nullptr) {
          std::vector<std::string> names;
          for (int i = 0; i < field->enum_type()->value_count(); ++i) {
            names.push_back(field->enum_type()->value(i)->name());
          }
          return Error(path, node,
                       absl::StrCat(Show(text), " is not one of: ", absl::StrJoin(names, ", ")));
        }
        repeated ? reflection->AddEnumValue(message, field, value->number())
                 : reflection->SetEnumValue(message, field, value->number());
        return;
      }
      case FieldDescriptor::CPPTYPE_DOUBLE:
      case FieldDescriptor::CPPTYPE_FLOAT:
        return ConvertFloatingPoint(node, path, message, field);
      case FieldDescriptor::CPPTYPE_INT32:
      case FieldDescriptor::CPPTYPE_INT64:
      case FieldDescriptor::CPPTYPE_UINT32:
      case FieldDescriptor::CPPTYPE_UINT64:
        return ConvertInteger(node, path, message, field);
      case FieldDescriptor::CPPTYPE_MESSAGE:
        break;  // handled by ConvertValue
    }
  }

  // Checks the shape of a number; false (with an error added) if it is not one.
  bool CheckNumberShape(const YAML::Node& node, const std::string& path,
                        const FieldDescriptor* field) {
    const std::string& text = node.Scalar();
    if (IsQuoted(node)) {
      Error(path, node,
            absl::StrCat(Show(text), " is quoted, so it is a string; expected ", Expected(field),
                         " (write it without quotes)"));
      return false;
    }
    if (!IsDecimalNumber(text)) {
      Error(path, node, absl::StrCat(Show(text), " is not a number; expected ", Expected(field)));
      return false;
    }
    return true;
  }

  void ConvertFloatingPoint(const YAML::Node& node, const std::string& path, Message* message,
                            const FieldDescriptor* field) {
    if (!CheckNumberShape(node, path, field)) return;
    const std::string& text = node.Scalar();
    double value;
    const bool is_float = field->cpp_type() == FieldDescriptor::CPPTYPE_FLOAT;
    if (!absl::SimpleAtod(text, &value) || !std::isfinite(value) ||
        (is_float && std::fabs(value) > FLT_MAX)) {
      return Error(path, node, absl::StrCat(text, " is out of range for ", field->type_name()));
    }
    const Reflection* reflection = message->GetReflection();
    if (is_float) {
      field->is_repeated() ? reflection->AddFloat(message, field, static_cast<float>(value))
                           : reflection->SetFloat(message, field, static_cast<float>(value));
    } else {
      field->is_repeated() ? reflection->AddDouble(message, field, value)
                           : reflection->SetDouble(message, field, value);
    }
  }

  void ConvertInteger(const YAML::Node& node, const std::string& path, Message* message,
                      const FieldDescriptor* field) {
    if (!CheckNumberShape(node, path, field)) return;
    const std::string& text = node.Scalar();
    if (!IsDecimalInteger(text)) {
      return Error(path, node,
                   absl::StrCat(text, " is not a whole number; expected ", Expected(field)));
    }
    const Reflection* reflection = message->GetReflection();
    const bool repeated = field->is_repeated();
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
      case FieldDescriptor::CPPTYPE_INT64: {
        const bool is_32 = field->cpp_type() == FieldDescriptor::CPPTYPE_INT32;
        const int64_t min =
            is_32 ? std::numeric_limits<int32_t>::min() : std::numeric_limits<int64_t>::min();
        const int64_t max =
            is_32 ? std::numeric_limits<int32_t>::max() : std::numeric_limits<int64_t>::max();
        int64_t value;
        if (!absl::SimpleAtoi(text, &value) || value < min || value > max) {
          return Error(path, node,
                       absl::StrCat(text, " is out of range for ", field->type_name(), " (", min,
                                    " to ", max, ")"));
        }
        if (is_32) {
          repeated ? reflection->AddInt32(message, field, static_cast<int32_t>(value))
                   : reflection->SetInt32(message, field, static_cast<int32_t>(value));
        } else {
          repeated ? reflection->AddInt64(message, field, value)
                   : reflection->SetInt64(message, field, value);
        }
        return;
      }
      default: {
        const bool is_32 = field->cpp_type() == FieldDescriptor::CPPTYPE_UINT32;
        const uint64_t max =
            is_32 ? std::numeric_limits<uint32_t>::max() : std::numeric_limits<uint64_t>::max();
        const bool negative = text[0] == '-' && text.find_first_not_of("-0") != std::string::npos;
        if (negative) {
          return Error(path, node,
                       absl::StrCat(text, " is negative; expected ", field->type_name(), " (0 to ",
                                    max, ")"));
        }
        uint64_t value;
        absl::string_view digits = text;
        if (digits[0] == '-' || digits[0] == '+') digits.remove_prefix(1);
        if (!absl::SimpleAtoi(digits, &value) || value > max) {
          return Error(
              path, node,
              absl::StrCat(text, " is out of range for ", field->type_name(), " (0 to ", max, ")"));
        }
        if (is_32) {
          repeated ? reflection->AddUInt32(message, field, static_cast<uint32_t>(value))
                   : reflection->SetUInt32(message, field, static_cast<uint32_t>(value));
        } else {
          repeated ? reflection->AddUInt64(message, field, value)
                   : reflection->SetUInt64(message, field, value);
        }
        return;
      }
    }
  }

  ConfigErrors* errors_;
  FieldPositions* positions_;
  int visited_ = 0;
};

}  // namespace

void YamlNodeToProto(const YAML::Node& node, google::protobuf::Message* message,
                     ConfigErrors* errors, FieldPositions* positions) {
  // yaml-cpp reports misuse by throwing; nothing may escape into our callers.
  try {
    if (!node.IsDefined() || node.IsNull()) {
      errors->Add("", PositionOf(node), "the document is empty; expected a map of fields");
      return;
    }
    Converter(errors, positions).ConvertMessage(node, "", message);
  } catch (const std::exception& e) {
    errors->Add("", SourcePosition{}, absl::StrCat("cannot read the YAML document: ", e.what()));
  }
}

void YamlToProto(absl::string_view yaml, google::protobuf::Message* message, ConfigErrors* errors,
                 FieldPositions* positions) {
  message->Clear();
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(std::string(yaml));
  } catch (const YAML::Exception& e) {
    SourcePosition position;
    if (!e.mark.is_null()) position = {e.mark.line + 1, e.mark.column + 1};
    errors->Add("", position, absl::StrCat("YAML syntax error: ", e.msg));
    return;
  } catch (const std::exception& e) {
    errors->Add("", SourcePosition{}, absl::StrCat("YAML syntax error: ", e.what()));
    return;
  }
  if (documents.empty()) {
    errors->Add("", SourcePosition{}, "the document is empty; expected a map of fields");
    return;
  }
  if (documents.size() > 1) {
    errors->Add("", PositionOf(documents[1]),
                absl::StrCat("found ", documents.size(),
                             " YAML documents (separated by ---); expected exactly one"));
    return;
  }
  YamlNodeToProto(documents[0], message, errors, positions);
}

absl::Status YamlToProto(absl::string_view yaml, absl::string_view source_name,
                         google::protobuf::Message* message, FieldPositions* positions) {
  ConfigErrors errors;
  YamlToProto(yaml, message, &errors, positions);
  return errors.ToStatus(source_name);
}

}  // namespace palisade::config
