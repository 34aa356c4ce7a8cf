// Authorization of verified peers: an allow-list of exact SPIFFE IDs, whole trust
// domains and path prefixes (matched at segment boundaries). Deny by default.
#ifndef PALISADE_IDENTITY_AUTHZ_POLICY_H_
#define PALISADE_IDENTITY_AUTHZ_POLICY_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "identity/spiffe_id.h"

namespace palisade {
namespace identity {

// Immutable after Create; any thread may call Allows concurrently.
class AuthorizationPolicy {
 public:
  // `spiffe_ids`: exact IDs with a path ("spiffe://td/ns/shop/sa/cart").
  // `trust_domains`: every ID of a domain; "td" or "spiffe://td".
  // `path_prefixes`: "spiffe://td/ns/shop" or "spiffe://td/ns/shop/" allow that ID
  //   and every ID below it ("spiffe://td/ns/shop/sa/x"), never a sibling that merely
  //   shares the characters ("spiffe://td/ns/shopping"); "spiffe://td/" allows the
  //   whole domain.
  // An invalid entry fails creation with InvalidArgument naming the list, the index
  // and the rule, e.g. `path_prefixes[1] "spiffe://td/a//": path contains an empty
  // segment`.
  static absl::StatusOr<AuthorizationPolicy> Create(std::vector<std::string> spiffe_ids,
                                                    std::vector<std::string> trust_domains,
                                                    std::vector<std::string> path_prefixes);

  // A policy with no entries: allows nobody.
  AuthorizationPolicy() = default;

  // True when some entry allows `peer`; always false for an empty policy and for
  // a trust domain's own ID ("spiffe://td", no path).
  bool Allows(const SpiffeId& peer) const;
  bool empty() const { return ids_.empty() && domains_.empty() && prefixes_.empty(); }

 private:
  absl::flat_hash_set<SpiffeId> ids_;
  absl::flat_hash_set<std::string> domains_;
  // trust domain -> path prefixes without a trailing slash ("/ns/shop"; "" = all).
  absl::flat_hash_map<std::string, std::vector<std::string>> prefixes_;
};

}  // namespace identity
}  // namespace palisade

#endif  // PALISADE_IDENTITY_AUTHZ_POLICY_H_
