#include "control/service/workload_registry.h"

#include <algorithm>
#include <iterator>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "control/state/state_files.h"

namespace palisade::control::service {
namespace {

nlohmann::json CertToJson(const IssuedCertificate& c) {
  return {{"serial", c.serial},
          {"spiffe_id", c.spiffe_id},
          {"instance", c.instance},
          {"lineage", c.lineage},
          {"not_before", absl::ToUnixSeconds(c.not_before)},
          {"not_after", absl::ToUnixSeconds(c.not_after)},
          {"issued_at", absl::ToUnixSeconds(c.issued_at)},
          {"root_fingerprint", c.root_fingerprint},
          {"renewal", c.renewal}};
}

IssuedCertificate CertFromJson(const nlohmann::json& j) {
  IssuedCertificate c;
  c.serial = j.value("serial", "");
  c.spiffe_id = j.value("spiffe_id", "");
  c.instance = j.value("instance", "");
  c.lineage = j.value("lineage", "unknown");
  c.not_before = absl::FromUnixSeconds(j.value("not_before", int64_t{0}));
  c.not_after = absl::FromUnixSeconds(j.value("not_after", int64_t{0}));
  c.issued_at = absl::FromUnixSeconds(j.value("issued_at", int64_t{0}));
  c.root_fingerprint = j.value("root_fingerprint", "");
  c.renewal = j.value("renewal", false);
  return c;
}

}  // namespace

absl::StatusOr<std::unique_ptr<WorkloadRegistry>> WorkloadRegistry::Open(
    const std::string& path, size_t max_instances_per_identity) {
  std::unique_ptr<WorkloadRegistry> registry(
      new WorkloadRegistry(path, std::max<size_t>(max_instances_per_identity, 1)));
  if (path.empty()) return registry;
  absl::StatusOr<std::string> text = state::ReadStateFile(path);
  if (absl::IsNotFound(text.status())) return registry;
  if (!text.ok()) return text.status();
  nlohmann::json doc = nlohmann::json::parse(*text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("deregistered") ||
      !doc["deregistered"].is_object() || !doc.contains("certificates") ||
      !doc["certificates"].is_array()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "state file ", path,
        ": not valid JSON with \"deregistered\" and \"certificates\" (corrupt or truncated); "
        "refusing to start"));
  }
  sync::MutexLock lock(&registry->mu_);
  try {
    for (const auto& [id, when] : doc["deregistered"].items()) {
      registry->deregistered_[id] =
          absl::FromUnixSeconds(when.is_number() ? when.get<int64_t>() : 0);
    }
    for (const nlohmann::json& j : doc["certificates"]) {
      if (!j.is_object()) continue;
      IssuedCertificate c = CertFromJson(j);
      if (registry->certificates_.count(c.serial) > 0) continue;
      registry->certificates_[c.serial] = c;
      registry->Index(c);
      auto w = registry->workloads_.find({c.spiffe_id, c.instance});
      if (w == registry->workloads_.end() || c.issued_at >= w->second.latest.issued_at) {
        registry->UpdateWorkload(c);
      } else {
        w->second.renewals += c.renewal ? 1 : 0;
      }
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::FailedPreconditionError(absl::StrCat(
        "state file ", path, ": a field has the wrong type (", e.what(), "); refusing to start"));
  }
  return registry;
}

bool WorkloadRegistry::IsDeregistered(const std::string& spiffe_id) const {
  sync::MutexLock lock(&mu_);
  return deregistered_.count(spiffe_id) > 0;
}

absl::StatusOr<bool> WorkloadRegistry::Deregister(const std::string& spiffe_id, absl::Time now) {
  sync::MutexLock lock(&mu_);
  const bool inserted = deregistered_.emplace(spiffe_id, now).second;
  if (inserted) {
    if (absl::Status s = Save(); !s.ok()) {
      deregistered_.erase(spiffe_id);
      return s;
    }
  }
  return inserted;
}

absl::StatusOr<bool> WorkloadRegistry::Reregister(const std::string& spiffe_id) {
  sync::MutexLock lock(&mu_);
  auto it = deregistered_.find(spiffe_id);
  if (it == deregistered_.end()) return false;
  const absl::Time when = it->second;
  deregistered_.erase(it);
  if (absl::Status s = Save(); !s.ok()) {
    deregistered_[spiffe_id] = when;
    return s;
  }
  return true;
}

std::vector<std::string> WorkloadRegistry::Deregistered() const {
  sync::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& [id, when] : deregistered_) out.push_back(id);
  return out;
}

void WorkloadRegistry::Index(const IssuedCertificate& cert) {
  by_identity_[cert.spiffe_id].emplace(cert.not_after, cert.serial);
}

void WorkloadRegistry::UpdateWorkload(const IssuedCertificate& cert) {
  const std::pair<std::string, std::string> key{cert.spiffe_id, cert.instance};
  auto found = workloads_.find(key);
  if (found == workloads_.end()) {
    // The identity's records are adjacent in the map: count them, and find
    // the least recently issued.
    size_t count = 0;
    auto oldest = workloads_.end();
    for (auto it = workloads_.lower_bound({cert.spiffe_id, ""});
         it != workloads_.end() && it->first.first == cert.spiffe_id; ++it) {
      ++count;
      if (oldest == workloads_.end() ||
          it->second.latest.issued_at < oldest->second.latest.issued_at) {
        oldest = it;
      }
    }
    if (count >= max_instances_ && oldest != workloads_.end()) workloads_.erase(oldest);
    found = workloads_.emplace(key, WorkloadRecord{}).first;
  }
  found->second.latest = cert;
  if (cert.renewal) ++found->second.renewals;
}

void WorkloadRegistry::RecordIssuance(const IssuedCertificate& cert) {
  sync::MutexLock lock(&mu_);
  if (!certificates_.emplace(cert.serial, cert).second) return;  // serials are unique
  Index(cert);
  UpdateWorkload(cert);
  dirty_ = true;
}

WorkloadRegistry::Unexpired WorkloadRegistry::UnexpiredOf(const std::string& spiffe_id,
                                                          absl::Time now) const {
  sync::MutexLock lock(&mu_);
  Unexpired out;
  auto found = by_identity_.find(spiffe_id);
  if (found == by_identity_.end()) return out;
  const auto& certs = found->second;
  auto first = certs.lower_bound({now, ""});  // not_after >= now: still valid at now
  if (first == certs.end()) return out;
  out.earliest_not_after = first->first;
  out.count = static_cast<size_t>(std::distance(first, certs.end()));
  return out;
}

std::optional<absl::Time> WorkloadRegistry::LatestNotAfter(const std::string& spiffe_id) const {
  sync::MutexLock lock(&mu_);
  auto found = by_identity_.find(spiffe_id);
  if (found == by_identity_.end() || found->second.empty()) return std::nullopt;
  return found->second.rbegin()->first;
}

std::optional<std::string> WorkloadRegistry::LineageOf(const std::string& serial) const {
  sync::MutexLock lock(&mu_);
  auto it = certificates_.find(serial);
  if (it == certificates_.end()) return std::nullopt;
  return it->second.lineage;
}

std::vector<WorkloadRecord> WorkloadRegistry::Workloads() const {
  sync::MutexLock lock(&mu_);
  std::vector<WorkloadRecord> out;
  for (const auto& [key, w] : workloads_) out.push_back(w);
  return out;
}

absl::Status WorkloadRegistry::Flush(absl::Time now) {
  sync::MutexLock lock(&mu_);
  for (auto it = certificates_.begin(); it != certificates_.end();) {
    if (it->second.not_after < now) {
      auto index = by_identity_.find(it->second.spiffe_id);
      if (index != by_identity_.end()) {
        index->second.erase({it->second.not_after, it->first});
        if (index->second.empty()) by_identity_.erase(index);
      }
      it = certificates_.erase(it);
      dirty_ = true;
    } else {
      ++it;
    }
  }
  for (auto it = workloads_.begin(); it != workloads_.end();) {
    // A workload whose latest certificate expired a day ago is gone.
    if (it->second.latest.not_after + absl::Hours(24) < now) {
      it = workloads_.erase(it);
      dirty_ = true;
    } else {
      ++it;
    }
  }
  if (!dirty_) return absl::OkStatus();
  return Save();
}

absl::Status WorkloadRegistry::Save() {
  dirty_ = false;
  if (path_.empty()) return absl::OkStatus();
  nlohmann::json deregistered = nlohmann::json::object();
  for (const auto& [id, when] : deregistered_) deregistered[id] = absl::ToUnixSeconds(when);
  nlohmann::json certs = nlohmann::json::array();
  for (const auto& [serial, c] : certificates_) certs.push_back(CertToJson(c));
  const nlohmann::json doc = {{"deregistered", deregistered}, {"certificates", certs}};
  absl::Status s = state::WriteFileAtomically(path_, doc.dump(1) + "\n", 0600);
  if (!s.ok()) dirty_ = true;
  return s;
}

}  // namespace palisade::control::service
