// When a fetched SPIFFE bundle may replace a trust domain's last good one.
// Pure; the rules and their result labels in one place.
#ifndef PALISADE_CONTROL_FEDERATION_BUNDLE_ACCEPTANCE_H_
#define PALISADE_CONTROL_FEDERATION_BUNDLE_ACCEPTANCE_H_

#include "absl/status/statusor.h"
#include "identity/spiffe_bundle.h"

namespace palisade::control::federation {

// Every result a refresh ends with (the `result` label of
// palisade_control_federation_refreshes_total); "ok" first.
inline constexpr const char* kRefreshResults[] = {
    "ok",        "tls_error",          "wrong_spiffe_id", "network_error",  "http_error",
    "malformed", "wrong_trust_domain", "lower_sequence",  "sequence_reused"};

// True when `next` holds other roots than `current` (order aside).
bool RootsDiffer(const identity::SpiffeBundle& current, const identity::SpiffeBundle& next);

// OK (true: the roots changed) when `next` may replace `current`; otherwise
// a Refusal (control/auth/refusal.h) with its rule:
//  - wrong_trust_domain: an authority names a SPIFFE trust domain (a
//    spiffe:// URI SAN) other than the bundle's; authorities without one
//    are fine;
//  - lower_sequence: `current` has a spiffe_sequence and `next` a lower one,
//    or none;
//  - sequence_reused: the same sequence with other roots.
absl::StatusOr<bool> CheckSuccessor(const identity::SpiffeBundle& current,
                                    const identity::SpiffeBundle& next);

}  // namespace palisade::control::federation

#endif  // PALISADE_CONTROL_FEDERATION_BUNDLE_ACCEPTANCE_H_
