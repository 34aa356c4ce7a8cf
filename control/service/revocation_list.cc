#include "control/service/revocation_list.h"

#include <utility>

namespace palisade::control::service {

absl::StatusOr<std::unique_ptr<RevocationList>> RevocationList::Open(const std::string& path) {
  std::unique_ptr<RevocationList> list(new RevocationList(path));
  if (path.empty()) return list;
  absl::StatusOr<state::RevocationState> loaded = state::ReadRevocations(path);
  if (!loaded.ok()) return loaded.status();
  sync::MutexLock lock(&list->mu_);
  list->version_ = loaded->version;
  for (state::RevocationRecord& r : loaded->entries) {
    const std::string id = r.spiffe_id;
    list->entries_[id] = std::move(r);
  }
  return list;
}

state::RevocationState RevocationList::StateLocked() const {
  state::RevocationState out;
  out.version = version_;
  for (const auto& [id, record] : entries_) out.entries.push_back(record);
  return out;
}

absl::Status RevocationList::Save() {
  ++version_;
  if (path_.empty()) return absl::OkStatus();
  absl::Status s = state::WriteRevocations(path_, StateLocked());
  if (!s.ok()) --version_;
  return s;
}

absl::StatusOr<bool> RevocationList::Revoke(const std::string& spiffe_id, absl::Time expires_at,
                                            const std::string& reason, absl::Time now) {
  if (shared_ != nullptr) return SharedRevoke(spiffe_id, expires_at, reason, now, false);
  sync::MutexLock lock(&mu_);
  auto found = entries_.find(spiffe_id);
  if (found != entries_.end() && found->second.expires_at >= expires_at) return false;
  const std::map<std::string, state::RevocationRecord> before = entries_;
  if (found != entries_.end()) {
    found->second.expires_at = expires_at;
  } else {
    entries_[spiffe_id] = state::RevocationRecord{spiffe_id, now, expires_at, reason};
  }
  if (absl::Status s = Save(); !s.ok()) {
    entries_ = before;
    return s;
  }
  return true;
}

absl::StatusOr<bool> RevocationList::ExtendIfListed(const std::string& spiffe_id,
                                                    absl::Time not_after) {
  if (shared_ != nullptr) {
    if (!Contains(spiffe_id)) return false;
    return SharedRevoke(spiffe_id, not_after, "deregistered", not_after, true);
  }
  sync::MutexLock lock(&mu_);
  auto found = entries_.find(spiffe_id);
  if (found == entries_.end() || found->second.expires_at >= not_after) return false;
  const absl::Time before = found->second.expires_at;
  found->second.expires_at = not_after;
  if (absl::Status s = Save(); !s.ok()) {
    found->second.expires_at = before;
    return s;
  }
  return true;
}

absl::StatusOr<bool> RevocationList::Remove(const std::string& spiffe_id) {
  if (shared_ != nullptr) return SharedRemove(spiffe_id, false, absl::InfiniteFuture());
  sync::MutexLock lock(&mu_);
  auto found = entries_.find(spiffe_id);
  if (found == entries_.end()) return false;
  state::RevocationRecord record = found->second;
  entries_.erase(found);
  if (absl::Status s = Save(); !s.ok()) {
    entries_[spiffe_id] = std::move(record);
    return s;
  }
  return true;
}

absl::StatusOr<size_t> RevocationList::Prune(absl::Time now, absl::Duration margin) {
  if (shared_ != nullptr) {
    std::vector<std::string> due;
    {
      sync::MutexLock lock(&mu_);
      for (const auto& [id, r] : entries_) {
        if (r.expires_at + margin < now) due.push_back(id);
      }
    }
    size_t pruned = 0;
    for (const std::string& id : due) {
      absl::StatusOr<bool> removed = SharedRemove(id, true, now - margin);
      if (!removed.ok()) return removed.status();
      pruned += *removed ? 1 : 0;
    }
    return pruned;
  }
  sync::MutexLock lock(&mu_);
  const std::map<std::string, state::RevocationRecord> before = entries_;
  size_t pruned = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.expires_at + margin < now) {
      it = entries_.erase(it);
      ++pruned;
    } else {
      ++it;
    }
  }
  if (pruned == 0) return size_t{0};
  if (absl::Status s = Save(); !s.ok()) {
    entries_ = before;
    return s;
  }
  return pruned;
}

bool RevocationList::Contains(const std::string& spiffe_id) const {
  sync::MutexLock lock(&mu_);
  return entries_.count(spiffe_id) > 0;
}

state::RevocationState RevocationList::Snapshot() const {
  sync::MutexLock lock(&mu_);
  return StateLocked();
}

}  // namespace palisade::control::service
