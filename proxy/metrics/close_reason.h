// Turns a connection's close reason ("upstream_connection_refused",
// "downstream_connection_reset", "idle_timeout"...) into the few, stable
// label values operators alert on: palisade_connection_errors_total's
// reason and side.
#ifndef PALISADE_PROXY_METRICS_CLOSE_REASON_H_
#define PALISADE_PROXY_METRICS_CLOSE_REASON_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace palisade::metrics {

struct ConnectionError {
  // "" for a clean close ("done"); otherwise one of connect_refused,
  // connect_timeout, connect_failed, unresolved, reset, timeout, idle_timeout,
  // drained, peer_expired, root_removed, policy_changed, revoked, no_identity,
  // pending_evicted, max_connections, io_error.
  std::string reason;
  // "downstream" (the side that connected to us), "upstream" (the upstream
  // proxy, or the local app for an inbound listener) or "proxy" (neither: the
  // proxy ended it, e.g. idle_timeout, drained). Never "" for an error: an
  // empty label value reads as a missing label.
  std::string side;
};

ConnectionError ClassifyCloseReason(absl::string_view close_reason);

// Every error ClassifyCloseReason can give (each reason on each side), to
// create the series at zero before the first one.
std::vector<ConnectionError> KnownConnectionErrors();

}  // namespace palisade::metrics

#endif  // PALISADE_PROXY_METRICS_CLOSE_REASON_H_
