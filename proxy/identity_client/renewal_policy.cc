#include "proxy/identity_client/renewal_policy.h"

#include <algorithm>

namespace palisade::identity_client {

absl::Time NextRenewalTime(absl::Time not_before, absl::Time not_after, absl::Time now,
                           std::optional<absl::Time> renew_after, const RenewalPolicy& policy,
                           double unit_random) {
  const absl::Duration lifetime = not_after - not_before;
  absl::Time at;
  if (renew_after.has_value()) {
    // The server spreads a fleet's renewals; its word beats our schedule.
    at = *renew_after;
  } else {
    const double spread = 1 + policy.jitter * (2 * unit_random - 1);
    at = not_before + lifetime * (policy.fraction * spread);
    at = std::min(at, now + policy.max_wait);
  }
  // Not in a tight loop, even if the hint lies in the past...
  at = std::max(at, now + policy.min_wait);
  // ...but never so late that a failed attempt cannot be retried in time.
  at = std::min(at, not_before + lifetime * policy.latest_fraction);
  return std::max(at, now);
}

absl::Duration RetryDelay(absl::Duration backoff, absl::Time now,
                          std::optional<absl::Time> not_after, const RetryBounds& bounds) {
  if (!not_after.has_value() || *not_after <= now) {
    return std::min(backoff, bounds.expired_max_wait);
  }
  const absl::Duration life = *not_after - now;
  // Past the last chance, but still valid: keep trying, halving what is left.
  const absl::Duration usable = life > bounds.last_chance ? life - bounds.last_chance : life;
  return std::min(backoff, std::max(bounds.min_wait, usable / 2));
}

}  // namespace palisade::identity_client
