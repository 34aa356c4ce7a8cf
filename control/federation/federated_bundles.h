// The bundles of the foreign trust domains this control plane federates
// with: the last good one of each, the rules a fetched bundle must pass to
// replace it (bundle_acceptance.h), its copy in the state directory
// (<state_dir>/federation/<trust domain>.json, so a restart keeps it), and
// what operators see per domain (sequence, roots, last refresh, last error).
#ifndef PALISADE_CONTROL_FEDERATION_FEDERATED_BUNDLES_H_
#define PALISADE_CONTROL_FEDERATION_FEDERATED_BUNDLES_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "control/federation/federation_config.h"
#include "identity/spiffe_bundle.h"
#include "runtime/sync/mutex.h"

namespace palisade::control::federation {

// What operators see of one domain.
struct DomainStatus {
  std::string trust_domain;
  std::string endpoint;
  std::string profile;
  std::optional<uint64_t> sequence;
  size_t roots = 0;
  std::string source;                              // "initial_bundle_file", "state", "endpoint"
  absl::Time last_success = absl::InfinitePast();  // a good fetch (or the stored file's)
  absl::Time last_attempt = absl::InfinitePast();
  std::string last_result;  // of the last fetch; "" before the first
  std::string last_error;   // of the last failed fetch, "" when the last one was good
};

// The roots of one foreign domain, DER, as pushed to proxies.
struct DomainRoots {
  std::string trust_domain;
  std::vector<std::string> roots_der;
};

// Thread-safe.
class FederatedBundles {
 public:
  // Each domain starts from its stored bundle in <state_dir>/federation, or
  // its initial bundle (which wins only when both carry a sequence and its
  // own is higher). FailedPrecondition naming the file when a stored bundle
  // is unreadable or malformed.
  static absl::StatusOr<std::unique_ptr<FederatedBundles>> Open(
      const std::vector<FederatedDomain>& domains, const std::string& state_dir, absl::Time now);

  // A bundle fetched for `trust_domain`: OK when accepted (`*changed` says
  // whether the roots changed; the stored copy is refreshed either way), or
  // a Refusal whose reason is a kRefreshResults entry, the last good bundle
  // kept. Either way the attempt is recorded.
  absl::Status Offer(const std::string& trust_domain, identity::SpiffeBundle fetched,
                     absl::Time now, bool* changed) ABSL_LOCKS_EXCLUDED(mu_);
  // A fetch that failed before it had a bundle (TLS, HTTP, parse).
  void RecordFailure(const std::string& trust_domain, const std::string& result,
                     const std::string& detail, absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

  // The current anchors of `trust_domain` alone, PEM ("" when none): what
  // its endpoint's SVID must chain to.
  std::string AnchorsPem(const std::string& trust_domain) const ABSL_LOCKS_EXCLUDED(mu_);
  std::optional<absl::Duration> RefreshHint(const std::string& trust_domain) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Every domain's current roots, by trust domain.
  std::vector<DomainRoots> Roots() const ABSL_LOCKS_EXCLUDED(mu_);
  // Increases whenever some domain's roots change.
  uint64_t generation() const ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<DomainStatus> Status() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Domain {
    FederatedDomain config;
    identity::SpiffeBundle bundle;
    DomainStatus status;
  };
  explicit FederatedBundles(std::string dir) : dir_(std::move(dir)) {}
  std::string PathOf(const std::string& trust_domain) const;
  absl::Status Store(const Domain& domain, bool changed) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string dir_;
  mutable sync::Mutex mu_;
  std::map<std::string, Domain> domains_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace palisade::control::federation

#endif  // PALISADE_CONTROL_FEDERATION_FEDERATED_BUNDLES_H_
