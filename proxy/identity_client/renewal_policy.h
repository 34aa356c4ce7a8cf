// When the proxy asks for its next SVID: a fraction of the current one's
// lifetime, spread by jitter and clamped between a minimum and a maximum
// wait, unless the control plane's renew_after hint says otherwise; never so
// late that a failed renewal has no time left to retry before expiry.
#ifndef PALISADE_PROXY_IDENTITY_CLIENT_RENEWAL_POLICY_H_
#define PALISADE_PROXY_IDENTITY_CLIENT_RENEWAL_POLICY_H_

#include <optional>

#include "absl/time/time.h"

namespace palisade::identity_client {

struct RenewalPolicy {
  double fraction = 0.5;  // of the lifetime (config renew_fraction)
  double jitter = 0.1;    // the fraction's wait is spread by +/- this share
  absl::Duration min_wait = absl::Seconds(5);
  absl::Duration max_wait = absl::Hours(24);
  // Renew at the latest when this share of the lifetime has passed.
  double latest_fraction = 0.9;
};

// The time to send the next CSR for an SVID valid [not_before, not_after],
// seen at `now`. `renew_after` is the server's hint (obeyed over our own
// schedule). `unit_random` is uniform in [0, 1) and drives the jitter.
absl::Time NextRenewalTime(absl::Time not_before, absl::Time not_after, absl::Time now,
                           std::optional<absl::Time> renew_after, const RenewalPolicy& policy,
                           double unit_random);

// How the wait between attempts to reach the control plane bends to the SVID.
struct RetryBounds {
  // The last attempt falls at least this long before notAfter.
  absl::Duration last_chance = absl::Seconds(2);
  absl::Duration min_wait = absl::Milliseconds(100);
  // Without a valid SVID (none yet, or expired), no wait is longer: the
  // proxy is back soon after the control plane is.
  absl::Duration expired_max_wait = absl::Seconds(5);
};

// The wait before the next attempt: the backoff's `backoff`, but never so
// long that the SVID valid until `not_after` (none: nullopt) runs out first.
// While it is valid, at most half of what is left until `last_chance`
// before notAfter, so the attempts come more often as expiry nears and
// several, the last shortly before expiry, fall within any outage shorter
// than the remaining life.
absl::Duration RetryDelay(absl::Duration backoff, absl::Time now,
                          std::optional<absl::Time> not_after, const RetryBounds& bounds);

}  // namespace palisade::identity_client

#endif  // PALISADE_PROXY_IDENTITY_CLIENT_RENEWAL_POLICY_H_
