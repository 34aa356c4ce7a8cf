// How many certificates one SPIFFE ID may get: a token bucket per identity (a
// burst, then a steady rate scaled to --svid_ttl) and a cap on its unexpired
// certificates; and how often its refusals are audited, so a flood of
// refused CSRs cannot grow the audit log without bound.
#ifndef PALISADE_CONTROL_SERVICE_ISSUANCE_LIMITER_H_
#define PALISADE_CONTROL_SERVICE_ISSUANCE_LIMITER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "runtime/sync/mutex.h"

namespace palisade::control::service {

// The refusal reasons (audit lines, palisade_control_refusals_total).
inline constexpr char kRateLimitedReason[] = "issuance_rate_limited";
inline constexpr char kUnexpiredCapReason[] = "unexpired_certificates_cap";

struct IssuanceLimits {
  // --issuance_burst: certificates one identity may get at once.
  int burst = 16;
  // --issuance_per_ttl: then this many per --svid_ttl, sustained (64 lets 32
  // replicas sharing one identity renew at half-life, twice over).
  int per_ttl = 64;
  absl::Duration svid_ttl = absl::Hours(1);
  // --issuance_max_unexpired: unexpired certificates one identity may hold.
  int max_unexpired = 128;
  // At most one audit line per identity per interval for these refusals; the
  // next line says how many were not written.
  absl::Duration audit_interval = absl::Minutes(1);

  // Errors name the flag at fault.
  absl::Status Validate() const;
  // The steady rate: one certificate per this.
  absl::Duration RefillInterval() const { return svid_ttl / per_ttl; }
};

// Thread-safe. Time is passed in.
class IssuanceLimiter {
 public:
  explicit IssuanceLimiter(IssuanceLimits limits) : limits_(limits) {}

  // OK, and one certificate counted against `spiffe_id`; or a
  // RESOURCE_EXHAUSTED refusal (reason kRateLimitedReason or
  // kUnexpiredCapReason) whose message names the limit and when to retry.
  // `unexpired` and `earliest_expiry`: what the registry holds for it now.
  absl::Status Admit(const std::string& spiffe_id, size_t unexpired, absl::Time earliest_expiry,
                     absl::Time now);

  // For a refusal of `spiffe_id`: whether to write its audit line, and if
  // so how many refusals of it went unwritten since the previous line.
  struct AuditTurn {
    bool record = false;
    uint64_t suppressed = 0;
  };
  AuditTurn OnRefusal(const std::string& spiffe_id, const std::string& reason, absl::Time now);

  // A closing count for an identity whose refusals went unwritten and whose
  // interval has passed (so none is lost when the flood stops).
  struct Suppressed {
    std::string spiffe_id;
    std::string reason;
    uint64_t count = 0;
  };
  // Returns those counts and forgets identities whose bucket is full again
  // and that owe no line, so the table holds only recent issuers.
  std::vector<Suppressed> Sweep(absl::Time now);

  size_t tracked() const;
  const IssuanceLimits& limits() const { return limits_; }

 private:
  struct Entry {
    double tokens = 0;
    absl::Time updated;
    absl::Time last_line = absl::InfinitePast();
    uint64_t suppressed = 0;
    std::string reason;  // of the suppressed refusals
  };
  Entry& EntryFor(const std::string& spiffe_id, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const IssuanceLimits limits_;
  mutable sync::Mutex mu_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace palisade::control::service

#endif  // PALISADE_CONTROL_SERVICE_ISSUANCE_LIMITER_H_
