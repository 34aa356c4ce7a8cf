// Keeps the service-account verifier's key set current from the issuer: one
// thread fetches at start, every `interval`, and soon after a token names a
// key the set does not have (at most once per `unknown_key_min_interval`).
// A fetch that fails or brings something bad never replaces a good set;
// every outcome is reported (metrics, log) with its reason.
#ifndef PALISADE_CONTROL_AUTH_JWKS_REFRESHER_H_
#define PALISADE_CONTROL_AUTH_JWKS_REFRESHER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "control/auth/issuer_key_fetcher.h"
#include "control/auth/service_account_verifier.h"
#include "runtime/sync/mutex.h"

namespace palisade::control::auth {

// Start/Stop from one thread; RequestRefresh and last_success from any.
class JwksRefresher {
 public:
  struct Options {
    absl::Duration interval = absl::Minutes(5);
    // After a failed fetch the next comes this soon (at most `interval`).
    absl::Duration retry_interval = absl::Seconds(30);
    absl::Duration unknown_key_min_interval = absl::Seconds(10);
    std::function<absl::Time()> clock = [] { return absl::Now(); };
  };
  struct Outcome {
    std::string result;  // one of kIssuerFetchResults
    std::string detail;  // why, when not "ok"
    size_t keys = 0;     // in the set fetched ("ok") or kept (otherwise)
    bool changed = false;
    std::string trigger;  // "start", "interval", "unknown_key"
  };
  // `verifier` must outlive this. `on_outcome` runs on the refresher thread
  // (or Start's caller, for the first fetch).
  JwksRefresher(std::unique_ptr<IssuerKeyFetcher> fetcher, ServiceAccountVerifier* verifier,
                Options options, std::function<void(const Outcome&)> on_outcome);
  ~JwksRefresher();

  // Fetches once, installs the keys if good, then starts the thread. The
  // first fetch's outcome is returned; a failure leaves the verifier's
  // (empty) set and the thread retrying.
  Outcome Start();
  void Stop();

  // A token named a key the set lacks: true when a fetch is now due, false
  // when one was asked for less than unknown_key_min_interval ago.
  bool RequestRefresh() ABSL_LOCKS_EXCLUDED(mu_);

  // When a fetch last brought a good set (InfinitePast: never).
  absl::Time last_success() const ABSL_LOCKS_EXCLUDED(mu_);
  // Fetches finished so far (for tests that wait on one).
  uint64_t fetches() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  Outcome RefreshOnce(const std::string& trigger) ABSL_LOCKS_EXCLUDED(mu_);
  void Run();

  const std::unique_ptr<IssuerKeyFetcher> fetcher_;
  ServiceAccountVerifier* const verifier_;
  const Options options_;
  const std::function<void(const Outcome&)> on_outcome_;
  std::string text_;  // the set in use as fetched; refresher thread only (Start before)

  mutable sync::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool requested_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_request_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time last_success_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time next_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  uint64_t fetches_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace palisade::control::auth

#endif  // PALISADE_CONTROL_AUTH_JWKS_REFRESHER_H_
