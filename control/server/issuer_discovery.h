// Service-account keys from the issuer (--sa_issuer_discovery): the flags,
// checked with errors that name them, and the refresher wired to the
// control plane's metrics and log.
#ifndef PALISADE_CONTROL_SERVER_ISSUER_DISCOVERY_H_
#define PALISADE_CONTROL_SERVER_ISSUER_DISCOVERY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "control/auth/jwks_refresher.h"
#include "control/auth/service_account_verifier.h"
#include "control/metrics/control_metrics.h"

namespace palisade::control::server {

struct IssuerDiscoveryOptions {
  bool enabled = false;    // --sa_issuer_discovery
  std::string ca_file;     // --sa_issuer_ca_file: verifies the issuer's server
  std::string token_file;  // --sa_issuer_token_file: bearer token, re-read per fetch
  absl::Duration refresh_interval = absl::Minutes(5);       // --sa_jwks_refresh_interval
  absl::Duration unknown_key_interval = absl::Seconds(10);  // --sa_jwks_unknown_key_interval
  absl::Duration timeout = absl::Seconds(10);               // --sa_issuer_timeout
};

// The refresher for `verifier` (not started), after checking the flags and
// reading the CA file and token file once: InvalidArgument naming the flag.
// Each fetch is counted in `metrics` and logged; a token naming an unknown key
// asks for a fetch (rate-limited), counted too. `metrics` must outlive it.
absl::StatusOr<std::unique_ptr<auth::JwksRefresher>> NewIssuerRefresher(
    const IssuerDiscoveryOptions& options, const std::string& issuer,
    auth::ServiceAccountVerifier* verifier, metrics::ControlMetrics* metrics);

// Flags given without --sa_issuer_discovery: InvalidArgument naming one.
absl::Status RefuseStrayDiscoveryFlags(const IssuerDiscoveryOptions& options);

}  // namespace palisade::control::server

#endif  // PALISADE_CONTROL_SERVER_ISSUER_DISCOVERY_H_
