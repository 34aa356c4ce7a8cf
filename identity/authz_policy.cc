#include "identity/authz_policy.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace palisade {
namespace identity {
namespace {

absl::Status EntryError(absl::string_view list, size_t index, absl::string_view entry,
                        const absl::Status& cause) {
  return absl::InvalidArgumentError(
      absl::StrCat(list, "[", index, "] \"", entry, "\": ", cause.message()));
}

constexpr absl::string_view kScheme = "spiffe://";

}  // namespace

absl::StatusOr<AuthorizationPolicy> AuthorizationPolicy::Create(
    std::vector<std::string> spiffe_ids, std::vector<std::string> trust_domains,
    std::vector<std::string> path_prefixes) {
  AuthorizationPolicy policy;
  for (size_t i = 0; i < spiffe_ids.size(); ++i) {
    absl::StatusOr<SpiffeId> id = SpiffeId::Parse(spiffe_ids[i]);
    if (!id.ok()) return EntryError("spiffe_ids", i, spiffe_ids[i], id.status());
    if (id->path().empty()) {
      return EntryError(
          "spiffe_ids", i, spiffe_ids[i],
          absl::InvalidArgumentError("a workload's ID has a path (X509-SVID section 3); use "
                                     "trust_domains to allow a whole domain"));
    }
    policy.ids_.insert(*std::move(id));
  }
  for (size_t i = 0; i < trust_domains.size(); ++i) {
    absl::string_view domain = trust_domains[i];
    absl::Status valid;
    if (absl::StartsWith(domain, kScheme)) {
      // "spiffe://td" names the domain; "spiffe://td/x" would be an ID, not a domain.
      absl::StatusOr<SpiffeId> id = SpiffeId::Parse(domain);
      if (!id.ok()) {
        valid = id.status();
      } else if (!id->path().empty()) {
        valid = absl::InvalidArgumentError(
            "a trust domain entry has no path; use spiffe_ids or path_prefixes");
      } else {
        domain = domain.substr(kScheme.size());
      }
    } else {
      valid = ValidateTrustDomain(domain);
    }
    if (!valid.ok()) return EntryError("trust_domains", i, trust_domains[i], valid);
    policy.domains_.insert(std::string(domain));
  }
  for (size_t i = 0; i < path_prefixes.size(); ++i) {
    absl::string_view prefix = path_prefixes[i];
    // One trailing slash marks "everything below"; it means the same as none.
    if (absl::EndsWith(prefix, "/") && prefix.size() > kScheme.size()) prefix.remove_suffix(1);
    absl::StatusOr<SpiffeId> id = SpiffeId::Parse(prefix);
    if (!id.ok()) return EntryError("path_prefixes", i, path_prefixes[i], id.status());
    policy.prefixes_[id->trust_domain()].push_back(id->path());
  }
  return policy;
}

bool AuthorizationPolicy::Allows(const SpiffeId& peer) const {
  // A trust domain's own ID names no workload (X509-SVID section 3); the verifier
  // refuses such a leaf, and no entry may allow one that reaches here another way.
  if (peer.path().empty()) return false;
  if (ids_.contains(peer) || domains_.contains(peer.trust_domain())) return true;
  auto it = prefixes_.find(peer.trust_domain());
  if (it == prefixes_.end()) return false;
  const std::string& path = peer.path();
  for (const std::string& prefix : it->second) {
    if (prefix.empty()) return true;
    if (absl::StartsWith(path, prefix) &&
        (path.size() == prefix.size() || path[prefix.size()] == '/')) {
      return true;
    }
  }
  return false;
}

}  // namespace identity
}  // namespace palisade
