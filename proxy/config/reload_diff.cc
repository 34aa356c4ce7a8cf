#include "proxy/config/reload_diff.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/message_differencer.h>

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"

namespace palisade::config {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::util::MessageDifferencer;

std::string Join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : absl::StrCat(prefix, ".", name);
}

std::string FirstDifferenceAt(const Message& a, const Message& b, const std::string& prefix) {
  const auto* descriptor = a.GetDescriptor();
  const auto* ra = a.GetReflection();
  const auto* rb = b.GetReflection();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    const std::string path = Join(prefix, field->name());
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !field->is_repeated()) {
      const bool in_a = ra->HasField(a, field);
      if (in_a != rb->HasField(b, field)) return path;
      if (!in_a) continue;
      std::string inner =
          FirstDifferenceAt(ra->GetMessage(a, field), rb->GetMessage(b, field), path);
      if (!inner.empty()) return inner;
      continue;
    }
    if (!MessageDifferencer().CompareWithFields(a, b, {field}, {field})) {
      return path;
    }
  }
  return "";
}

// Listeners by (direction, name), with their place in the file.
using ListenerIndex = std::map<std::pair<std::string, std::string>, std::pair<int, const Message*>>;

template <typename Listener>
void Index(const google::protobuf::RepeatedPtrField<Listener>& listeners, const char* direction,
           ListenerIndex* out, int* order) {
  for (const Listener& l : listeners) {
    out->emplace(std::make_pair(std::string(direction), l.name()), std::make_pair((*order)++, &l));
  }
}

ListenerIndex IndexOf(const v1::ProxyConfig& config) {
  ListenerIndex index;
  int order = 0;
  Index(config.inbound(), "inbound", &index, &order);
  Index(config.outbound(), "outbound", &index, &order);
  return index;
}

// Names in file order.
std::vector<std::string> Ordered(std::vector<std::pair<int, std::string>> entries) {
  std::sort(entries.begin(), entries.end());
  std::vector<std::string> names;
  for (auto& [order, name] : entries) names.push_back(std::move(name));
  return names;
}

}  // namespace

std::string FirstDifference(const Message& a, const Message& b) {
  if (MessageDifferencer::Equals(a, b)) return "";
  return FirstDifferenceAt(a, b, "");
}

ListenerDiff DiffListeners(const v1::ProxyConfig& running, const v1::ProxyConfig& next) {
  const ListenerIndex before = IndexOf(running);
  const ListenerIndex after = IndexOf(next);
  std::vector<std::pair<int, std::string>> added, removed, changed, unchanged;
  for (const auto& [key, entry] : after) {
    auto it = before.find(key);
    if (it == before.end()) {
      added.emplace_back(entry.first, key.second);
    } else if (MessageDifferencer::Equals(*it->second.second, *entry.second)) {
      unchanged.emplace_back(entry.first, key.second);
    } else {
      changed.emplace_back(entry.first, key.second);
    }
  }
  for (const auto& [key, entry] : before) {
    if (after.find(key) == after.end()) removed.emplace_back(entry.first, key.second);
  }
  return ListenerDiff{Ordered(std::move(added)), Ordered(std::move(removed)),
                      Ordered(std::move(changed)), Ordered(std::move(unchanged))};
}

absl::Status CheckRestartFields(const v1::ProxyConfig& running, const v1::ProxyConfig& next) {
  v1::ProxyConfig a = running;
  v1::ProxyConfig b = next;
  a.clear_inbound();
  a.clear_outbound();
  b.clear_inbound();
  b.clear_outbound();
  const std::string field = FirstDifference(a, b);
  if (field.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      field,
      ": requires a restart (only the inbound and outbound listeners change at runtime); "
      "the running configuration stays"));
}

}  // namespace palisade::config
