#include "proxy/metrics/close_reason.h"

#include "absl/strings/match.h"
#include "absl/strings/strip.h"

namespace palisade::metrics {

namespace {

constexpr const char* kReasons[] = {
    "connect_refused", "connect_timeout", "connect_failed",  "unresolved",      "reset",
    "timeout",         "idle_timeout",    "drained",         "peer_expired",    "root_removed",
    "policy_changed",  "no_identity",     "pending_evicted", "max_connections", "io_error",
    "http_refused",    "revoked"};

}  // namespace

std::vector<ConnectionError> KnownConnectionErrors() {
  std::vector<ConnectionError> known;
  for (const char* side : {"downstream", "upstream", "proxy"}) {
    for (const char* reason : kReasons) known.push_back(ConnectionError{reason, side});
  }
  return known;
}

ConnectionError ClassifyCloseReason(absl::string_view close_reason) {
  ConnectionError error;
  if (close_reason == "done") return error;
  absl::string_view rest = close_reason;
  if (absl::ConsumePrefix(&rest, "downstream_")) {
    error.side = "downstream";
  } else if (absl::ConsumePrefix(&rest, "upstream_") || absl::ConsumePrefix(&rest, "app_")) {
    // An inbound listener's upstream is the local app.
    error.side = "upstream";
  } else {
    error.side = "proxy";
  }
  if (rest == "connection_refused") {
    error.reason = "connect_refused";
  } else if (rest == "connect_timeout") {
    error.reason = "connect_timeout";
  } else if (rest == "connect_failed" || rest == "unreachable") {
    error.reason = "connect_failed";
  } else if (rest == "unresolved") {
    error.reason = "unresolved";
  } else if (rest == "connection_reset" || rest == "broken_pipe") {
    error.reason = "reset";
  } else if (absl::StartsWith(rest, "http")) {
    // caller_identity http_header: a request it would not pass on
    // (http_bad_request, http2_refused, ...); the exact reason is logged.
    error.reason = "http_refused";
  } else if (rest == "timeout") {
    error.reason = "timeout";
  } else if (rest == "idle_timeout" || rest == "drained" || rest == "peer_expired" ||
             rest == "root_removed" || rest == "policy_changed" || rest == "no_identity" ||
             rest == "pending_evicted" || rest == "max_connections" || rest == "revoked") {
    error.reason = std::string(rest);
  } else {
    // io_error, socket_error, peer_closed and whatever a later change adds:
    // a bounded label, with the exact reason in the access log.
    error.reason = "io_error";
  }
  return error;
}

}  // namespace palisade::metrics
