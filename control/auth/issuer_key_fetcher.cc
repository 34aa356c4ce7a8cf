#include "control/auth/issuer_key_fetcher.h"

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "control/auth/refusal.h"
#include "runtime/files/files.h"
#include "runtime/http/https_url.h"
#include "runtime/status/status_macros.h"

namespace palisade::control::auth {
namespace {

constexpr size_t kMaxTokenFileBytes = 64 * 1024;

absl::Status Fail(absl::string_view result, absl::string_view detail) {
  return Refusal(absl::StatusCode::kUnavailable, result, detail);
}

// The result label of an HttpsClient error.
absl::string_view ClientErrorResult(const absl::Status& status) {
  return absl::IsUnauthenticated(status) ? "tls_error" : "network_error";
}

}  // namespace

std::string IssuerKeyFetcher::DiscoveryUrl(const std::string& issuer) {
  absl::string_view base = issuer;
  absl::ConsumeSuffix(&base, "/");
  return absl::StrCat(base, "/.well-known/openid-configuration");
}

absl::StatusOr<std::string> IssuerKeyFetcher::Get(const std::string& url,
                                                  const std::string& token) const {
  http::HttpsRequest request;
  request.url = url;
  request.headers.emplace_back("Accept", "application/json");
  if (!token.empty()) request.headers.emplace_back("Authorization", "Bearer " + token);
  absl::StatusOr<http::HttpsResponse> response = client_->Fetch(request);
  if (!response.ok())
    return Fail(ClientErrorResult(response.status()), response.status().message());
  if (response->status != 200) {
    return Fail("http_error", absl::StrCat(url, ": HTTP status ", response->status));
  }
  return std::move(response->body);
}

absl::StatusOr<IssuerKeys> IssuerKeyFetcher::Fetch() const {
  std::string token;
  if (!options_.token_file.empty()) {
    absl::StatusOr<std::string> read =
        files::ReadSmallFile(options_.token_file, "--sa_issuer_token_file", kMaxTokenFileBytes);
    if (!read.ok()) return Fail("token_file_error", read.status().message());
    token = std::string(absl::StripAsciiWhitespace(*read));
    if (token.empty()) {
      return Fail("token_file_error",
                  absl::StrCat("--sa_issuer_token_file \"", options_.token_file, "\" is empty"));
    }
  }

  const std::string discovery_url = DiscoveryUrl(options_.issuer);
  ASSIGN_OR_RETURN(std::string discovery_text, Get(discovery_url, token));
  const nlohmann::json discovery = nlohmann::json::parse(discovery_text, nullptr, false);
  if (discovery.is_discarded() || !discovery.is_object()) {
    return Fail("malformed", absl::StrCat(discovery_url, ": not a JSON object"));
  }
  if (!discovery.contains("issuer") || !discovery["issuer"].is_string()) {
    return Fail("malformed", absl::StrCat(discovery_url, ": no \"issuer\""));
  }
  // OpenID Connect Discovery 1.0, section 4.3: exactly the issuer asked for,
  // so that one issuer cannot hand out keys for another.
  if (discovery["issuer"] != options_.issuer) {
    return Fail("wrong_issuer", absl::StrCat(discovery_url, ": \"issuer\" is \"",
                                             discovery["issuer"].get<std::string>(),
                                             "\", not --sa_issuer \"", options_.issuer, "\""));
  }
  if (!discovery.contains("jwks_uri") || !discovery["jwks_uri"].is_string()) {
    return Fail("malformed", absl::StrCat(discovery_url, ": no \"jwks_uri\""));
  }
  IssuerKeys keys;
  keys.jwks_uri = discovery["jwks_uri"].get<std::string>();
  if (absl::StatusOr<http::HttpsUrl> parsed = http::ParseHttpsUrl(keys.jwks_uri); !parsed.ok()) {
    return Fail("malformed",
                absl::StrCat(discovery_url, ": \"jwks_uri\": ", parsed.status().message()));
  }

  ASSIGN_OR_RETURN(keys.text, Get(keys.jwks_uri, token));
  absl::StatusOr<std::shared_ptr<const Jwks>> jwks = Jwks::Parse(keys.text);
  if (!jwks.ok()) {
    return Fail("malformed", absl::StrCat(keys.jwks_uri, ": ", jwks.status().message()));
  }
  if ((*jwks)->size() == 0) {
    return Fail("no_keys", absl::StrCat(keys.jwks_uri, ": no signature key (RSA or EC P-256)"));
  }
  keys.jwks = *std::move(jwks);
  return keys;
}

}  // namespace palisade::control::auth
