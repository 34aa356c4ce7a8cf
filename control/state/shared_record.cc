#include "control/state/shared_record.h"

#include <random>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace palisade::control::state {

std::string EncodeSharedRecord(absl::string_view kind, nlohmann::json fields) {
  fields["schema"] = kSharedRecordSchema;
  fields["type"] = std::string(kind);
  // Makes every write's value unique, so that a write whose answer was lost
  // can be recognised when read back (etcd_client.h, PutIf).
  thread_local std::mt19937_64 random{std::random_device{}()};
  fields["write_id"] = absl::StrCat(absl::Hex(random(), absl::kZeroPad16));
  return fields.dump();
}

absl::Status MalformedRecord(const std::string& key, absl::string_view what) {
  return absl::FailedPreconditionError(
      absl::StrCat("store record \"", key, "\": ", what, "; refused (left as it is)"));
}

absl::StatusOr<nlohmann::json> DecodeSharedRecord(const std::string& key, const std::string& value,
                                                  absl::string_view kind) {
  nlohmann::json doc = nlohmann::json::parse(value, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return MalformedRecord(key, "not a JSON object");
  if (!doc.contains("schema") || !doc["schema"].is_number_integer()) {
    return MalformedRecord(key, "no \"schema\" (not a palisade-control record)");
  }
  if (doc["schema"].get<int64_t>() != kSharedRecordSchema) {
    return MalformedRecord(
        key, absl::StrCat("schema ", doc["schema"].get<int64_t>(),
                          " is not the one this version reads (", kSharedRecordSchema, ")"));
  }
  if (!doc.contains("type") || !doc["type"].is_string() || doc["type"].get<std::string>() != kind) {
    return MalformedRecord(key, absl::StrCat("\"type\" is not \"", kind, "\""));
  }
  return doc;
}

}  // namespace palisade::control::state
