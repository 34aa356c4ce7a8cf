// Keeps each federated trust domain's bundle fresh: one thread (HttpsClient
// blocks) fetches every domain's SPIFFE bundle endpoint when due, judges the
// endpoint by its profile (https_spiffe: an SVID with exactly the configured
// ID chaining to that domain's current bundle; https_web: the CA file and
// the URL's host), parses the document (identity/spiffe_bundle.h) and
// offers it to FederatedBundles. The next fetch follows the bundle's
// spiffe_refresh_hint within [min_refresh, max_refresh]; after a failure a
// backoff from min_refresh, doubling, up to that interval. A changed
// problem is logged once; every outcome is reported.
#ifndef PALISADE_CONTROL_FEDERATION_BUNDLE_FETCHER_H_
#define PALISADE_CONTROL_FEDERATION_BUNDLE_FETCHER_H_

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "control/federation/federated_bundles.h"
#include "control/federation/federation_config.h"
#include "runtime/sync/mutex.h"

namespace palisade::control::federation {

// Start/Stop from one thread.
class BundleFetcher {
 public:
  struct Options {
    absl::Duration min_refresh = absl::Seconds(30);
    absl::Duration max_refresh = absl::Hours(1);
    absl::Duration timeout = absl::Seconds(10);  // one request
  };
  struct Outcome {
    std::string trust_domain;
    std::string result;  // one of kRefreshResults
    std::string detail;  // why, when not "ok"
    bool changed = false;
  };
  // `bundles` must outlive this; `on_outcome` runs on the fetcher thread.
  BundleFetcher(std::vector<FederatedDomain> domains, FederatedBundles* bundles, Options options,
                std::function<void(const Outcome&)> on_outcome);
  ~BundleFetcher();

  // Starts the thread; every domain is fetched at once, then when due.
  void Start();
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  // One fetch of domain `index`, reported and recorded (tests; the thread).
  Outcome FetchOnce(size_t index);
  // The wait after a fetch: the hint within the bounds, or the backoff
  // after `failures` failures in a row.
  static absl::Duration NextWait(const Options& options, std::optional<absl::Duration> hint,
                                 int failures);

 private:
  void Run();

  const std::vector<FederatedDomain> domains_;
  FederatedBundles* const bundles_;
  const Options options_;
  const std::function<void(const Outcome&)> on_outcome_;
  // Fetcher thread only.
  std::vector<int> failures_;
  std::vector<std::string> logged_problem_;

  sync::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace palisade::control::federation

#endif  // PALISADE_CONTROL_FEDERATION_BUNDLE_FETCHER_H_
