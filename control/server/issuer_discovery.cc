#include "control/server/issuer_discovery.h"

#include "absl/strings/str_cat.h"
#include "control/auth/issuer_key_fetcher.h"
#include "runtime/files/files.h"
#include "runtime/http/https_client.h"
#include "runtime/http/https_url.h"
#include "runtime/log/logging.h"
#include "runtime/verify/server_name_verifier.h"

namespace palisade::control::server {
namespace {

absl::Status FlagError(absl::string_view flag, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", problem));
}

void Report(const auth::JwksRefresher::Outcome& outcome, metrics::ControlMetrics* metrics) {
  metrics->OnJwksRefresh(outcome.result, outcome.keys);
  if (outcome.result == "ok") {
    log::LogEvent(outcome.changed ? log::Level::kInfo : log::Level::kDebug, "control",
                  outcome.changed ? "service-account keys fetched from the issuer"
                                  : "service-account keys from the issuer unchanged",
                  {{"trigger", outcome.trigger}, {"keys", outcome.keys}});
    return;
  }
  log::LogEvent(log::Level::kError, "control",
                "service-account keys not refreshed from the issuer; the keys in use stay",
                {{"trigger", outcome.trigger},
                 {"result", outcome.result},
                 {"error", outcome.detail},
                 {"keys_in_use", outcome.keys}});
}

}  // namespace

absl::Status RefuseStrayDiscoveryFlags(const IssuerDiscoveryOptions& o) {
  if (o.enabled) return absl::OkStatus();
  if (!o.ca_file.empty()) return FlagError("sa_issuer_ca_file", "needs --sa_issuer_discovery");
  if (!o.token_file.empty()) {
    return FlagError("sa_issuer_token_file", "needs --sa_issuer_discovery");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<auth::JwksRefresher>> NewIssuerRefresher(
    const IssuerDiscoveryOptions& o, const std::string& issuer,
    auth::ServiceAccountVerifier* verifier, metrics::ControlMetrics* metrics) {
  if (absl::StatusOr<http::HttpsUrl> url = http::ParseHttpsUrl(issuer); !url.ok()) {
    return FlagError("sa_issuer",
                     absl::StrCat(url.status().message(), " (needed by --sa_issuer_discovery)"));
  }
  if (o.ca_file.empty()) {
    return FlagError("sa_issuer_ca_file",
                     "is required with --sa_issuer_discovery (the CA of the issuer's serving "
                     "certificate; in a pod: "
                     "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt)");
  }
  absl::StatusOr<std::string> pem = files::ReadSmallFile(o.ca_file, "--sa_issuer_ca_file");
  if (!pem.ok()) return absl::InvalidArgumentError(pem.status().message());
  absl::StatusOr<verify::ServerRoots> roots = verify::ServerRoots::FromPem(*pem);
  if (!roots.ok()) {
    return FlagError("sa_issuer_ca_file",
                     absl::StrCat("\"", o.ca_file, "\": ", roots.status().message()));
  }
  if (!o.token_file.empty()) {
    absl::StatusOr<std::string> token =
        files::ReadSmallFile(o.token_file, "--sa_issuer_token_file");
    if (!token.ok()) return absl::InvalidArgumentError(token.status().message());
  }
  if (o.refresh_interval < absl::Seconds(1)) {
    return FlagError("sa_jwks_refresh_interval", "must be at least 1s");
  }
  if (o.unknown_key_interval <= absl::ZeroDuration()) {
    return FlagError("sa_jwks_unknown_key_interval", "must be more than zero");
  }
  if (o.timeout <= absl::ZeroDuration())
    return FlagError("sa_issuer_timeout", "must be more than zero");

  http::HttpsClient::Options client_options;
  client_options.timeout = o.timeout;
  client_options.max_response_bytes = 1 << 20;  // a JWKS is a few KiB
  absl::StatusOr<std::unique_ptr<http::HttpsClient>> client = http::HttpsClient::Create(
      std::make_shared<const verify::ServerRoots>(*std::move(roots)), client_options);
  if (!client.ok()) return FlagError("sa_issuer_ca_file", client.status().message());
  auto fetcher = std::make_unique<auth::IssuerKeyFetcher>(
      *std::move(client), auth::IssuerKeyFetcher::Options{issuer, o.token_file});
  auth::JwksRefresher::Options refresher;
  refresher.interval = o.refresh_interval;
  refresher.unknown_key_min_interval = o.unknown_key_interval;
  return std::make_unique<auth::JwksRefresher>(
      std::move(fetcher), verifier, refresher,
      [metrics](const auth::JwksRefresher::Outcome& outcome) { Report(outcome, metrics); });
}

}  // namespace palisade::control::server
