// RevocationList's shared mode: each entry a record "revocations/<SPIFFE ID>"
// in the SharedStore, changed only by compare-and-swap on its revision.
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "control/service/revocation_list.h"
#include "control/state/shared_record.h"
#include "runtime/status/status_macros.h"

namespace palisade::control::service {
namespace {

constexpr char kKind[] = "revocation";
constexpr char kDir[] = "revocations/";
constexpr int kAttempts = 8;

std::string Encode(const state::RevocationRecord& r) {
  return state::EncodeSharedRecord(kKind, {{"spiffe_id", r.spiffe_id},
                                           {"revoked_at", absl::ToUnixSeconds(r.revoked_at)},
                                           {"expires_at", absl::ToUnixSeconds(r.expires_at)},
                                           {"reason", r.reason}});
}

// The SPIFFE ID a key names ("" if it is not under revocations/).
std::string IdOfKey(const std::string& key) {
  const size_t at = key.find(kDir);
  return at == std::string::npos ? "" : key.substr(at + sizeof(kDir) - 1);
}

absl::StatusOr<state::RevocationRecord> Decode(const state::StoredRecord& record) {
  ASSIGN_OR_RETURN(nlohmann::json doc, state::DecodeSharedRecord(record.key, record.value, kKind));
  for (const char* field : {"revoked_at", "expires_at"}) {
    if (!doc.contains(field) || !doc[field].is_number_integer()) {
      return state::MalformedRecord(record.key, absl::StrCat("\"", field, "\" must be an integer"));
    }
  }
  if (!doc.contains("spiffe_id") || !doc["spiffe_id"].is_string() ||
      doc["spiffe_id"].get<std::string>() != IdOfKey(record.key)) {
    return state::MalformedRecord(record.key, "\"spiffe_id\" is not the one the key names");
  }
  state::RevocationRecord r;
  r.spiffe_id = doc["spiffe_id"].get<std::string>();
  r.revoked_at = absl::FromUnixSeconds(doc["revoked_at"].get<int64_t>());
  r.expires_at = absl::FromUnixSeconds(doc["expires_at"].get<int64_t>());
  r.reason = doc.value("reason", std::string("deregistered"));
  return r;
}

}  // namespace

std::unique_ptr<RevocationList> RevocationList::OpenShared(state::SharedStore* store) {
  return std::unique_ptr<RevocationList>(new RevocationList("", store));
}

absl::StatusOr<bool> RevocationList::SharedRevoke(const std::string& spiffe_id,
                                                  absl::Time expires_at, const std::string& reason,
                                                  absl::Time now, bool only_if_listed) {
  const std::string key = kDir + spiffe_id;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    ASSIGN_OR_RETURN(std::optional<state::StoredRecord> stored, shared_->Get(key));
    state::RevocationRecord record{spiffe_id, now, expires_at, reason};
    int64_t expected = 0;
    if (stored.has_value()) {
      ASSIGN_OR_RETURN(state::RevocationRecord existing, Decode(*stored));
      if (existing.expires_at >= absl::FromUnixSeconds(absl::ToUnixSeconds(expires_at))) {
        return false;
      }
      record.revoked_at = existing.revoked_at;
      record.reason = existing.reason;
      expected = stored->revision;
    } else if (only_if_listed) {
      return false;
    }
    int64_t revision = 0;
    ASSIGN_OR_RETURN(bool written, shared_->PutIf(key, Encode(record), expected, &revision));
    if (!written) continue;  // another replica wrote it first: decide again
    // Seconds, as the record holds it and every replica reads it.
    record.revoked_at = absl::FromUnixSeconds(absl::ToUnixSeconds(record.revoked_at));
    record.expires_at = absl::FromUnixSeconds(absl::ToUnixSeconds(record.expires_at));
    sync::MutexLock lock(&mu_);
    entries_[spiffe_id] = record;
    version_ = std::max<uint64_t>(version_ + 1, static_cast<uint64_t>(revision));
    return true;
  }
  return absl::AbortedError(
      absl::StrCat("store record \"", shared_->FullKey(key), "\" kept changing; try again"));
}

absl::StatusOr<bool> RevocationList::SharedRemove(const std::string& spiffe_id,
                                                  bool only_if_expired_by, absl::Time deadline) {
  const std::string key = kDir + spiffe_id;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    ASSIGN_OR_RETURN(std::optional<state::StoredRecord> stored, shared_->Get(key));
    if (!stored.has_value()) {
      sync::MutexLock lock(&mu_);
      return entries_.erase(spiffe_id) > 0;
    }
    ASSIGN_OR_RETURN(state::RevocationRecord existing, Decode(*stored));
    if (only_if_expired_by && existing.expires_at >= deadline) return false;
    ASSIGN_OR_RETURN(bool deleted, shared_->DeleteIf(key, stored->revision));
    if (!deleted) continue;
    sync::MutexLock lock(&mu_);
    entries_.erase(spiffe_id);
    ++version_;
    return true;
  }
  return absl::AbortedError(
      absl::StrCat("store record \"", shared_->FullKey(key), "\" kept changing; try again"));
}

RevocationList::Changes RevocationList::ReplaceFromStore(
    const std::vector<state::StoredRecord>& records, int64_t revision) {
  Changes changes;
  sync::MutexLock lock(&mu_);
  std::map<std::string, state::RevocationRecord> loaded;
  for (const state::StoredRecord& stored : records) {
    absl::StatusOr<state::RevocationRecord> r = Decode(stored);
    if (r.ok()) {
      loaded[r->spiffe_id] = *std::move(r);
      continue;
    }
    changes.errors.push_back(r.status());
    // Not read as "not revoked": what was known of that identity stays.
    const std::string id = IdOfKey(stored.key);
    if (auto kept = entries_.find(id); kept != entries_.end()) loaded[id] = kept->second;
  }
  bool changed = false;
  for (const auto& [id, r] : loaded) {
    auto before = entries_.find(id);
    if (before == entries_.end()) {
      changes.added.push_back(id);
      changed = true;
    } else if (before->second.expires_at != r.expires_at) {
      changed = true;
    }
  }
  for (const auto& [id, r] : entries_) {
    if (loaded.count(id) == 0) {
      changes.removed.push_back(id);
      changed = true;
    }
  }
  changes.changed = changed;
  if (changed) {
    entries_.swap(loaded);
    version_ = std::max<uint64_t>(version_ + 1, static_cast<uint64_t>(revision));
  }
  return changes;
}

}  // namespace palisade::control::service
