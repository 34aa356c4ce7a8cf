#include "control/state/revocation_file.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "control/state/state_files.h"

namespace palisade::control::state {
namespace {

absl::Status Malformed(const std::string& path, absl::string_view what) {
  return absl::FailedPreconditionError(
      absl::StrCat("state file ", path, ": ", what, "; refusing to start"));
}

}  // namespace

absl::StatusOr<RevocationState> ReadRevocations(const std::string& path) {
  absl::StatusOr<std::string> text = ReadStateFile(path);
  if (absl::IsNotFound(text.status())) return RevocationState{};
  if (!text.ok()) return text.status();
  const nlohmann::json doc = nlohmann::json::parse(*text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Malformed(path, "not a JSON object (corrupt or truncated)");
  }
  if (!doc.contains("version") || !doc["version"].is_number_unsigned()) {
    return Malformed(path, "\"version\" must be a non-negative integer");
  }
  if (!doc.contains("revocations") || !doc["revocations"].is_array()) {
    return Malformed(path, "\"revocations\" must be an array");
  }
  RevocationState state;
  state.version = doc["version"].get<uint64_t>();
  for (size_t i = 0; i < doc["revocations"].size(); ++i) {
    const nlohmann::json& e = doc["revocations"][i];
    const std::string where = absl::StrCat("revocations[", i, "]");
    if (!e.is_object() || !e.contains("spiffe_id") || !e["spiffe_id"].is_string() ||
        e["spiffe_id"].get<std::string>().empty()) {
      return Malformed(path, absl::StrCat(where, ".spiffe_id must be a non-empty string"));
    }
    for (const char* field : {"revoked_at", "expires_at"}) {
      if (!e.contains(field) || !e[field].is_number_integer()) {
        return Malformed(path, absl::StrCat(where, ".", field, " must be Unix seconds"));
      }
    }
    RevocationRecord record;
    record.spiffe_id = e["spiffe_id"].get<std::string>();
    record.revoked_at = absl::FromUnixSeconds(e["revoked_at"].get<int64_t>());
    record.expires_at = absl::FromUnixSeconds(e["expires_at"].get<int64_t>());
    record.reason = e.contains("reason") && e["reason"].is_string() ? e["reason"].get<std::string>()
                                                                    : "deregistered";
    state.entries.push_back(std::move(record));
  }
  return state;
}

absl::Status WriteRevocations(const std::string& path, const RevocationState& state) {
  nlohmann::json entries = nlohmann::json::array();
  for (const RevocationRecord& r : state.entries) {
    // Rounded up: an entry must never end before the certificate it covers.
    entries.push_back({{"spiffe_id", r.spiffe_id},
                       {"revoked_at", absl::ToUnixSeconds(r.revoked_at)},
                       {"expires_at", absl::ToUnixSeconds(r.expires_at + absl::Seconds(1) -
                                                          absl::Nanoseconds(1))},
                       {"reason", r.reason}});
  }
  const nlohmann::json doc = {{"version", state.version}, {"revocations", entries}};
  return WriteFileAtomically(path, doc.dump(1) + "\n", 0600);
}

}  // namespace palisade::control::state
