// The service-account issuer's signing keys, the OpenID Connect discovery
// way (as the Kubernetes API server publishes them): GET
// <issuer>/.well-known/openid-configuration, check that its "issuer" is the
// configured one, then GET its "jwks_uri" and parse the key set. Both
// requests carry the bearer token from a file (re-read each time: projected
// tokens rotate) and go only to servers the CA file vouches for.
#ifndef PALISADE_CONTROL_AUTH_ISSUER_KEY_FETCHER_H_
#define PALISADE_CONTROL_AUTH_ISSUER_KEY_FETCHER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "control/auth/jwks.h"
#include "runtime/http/https_client.h"

namespace palisade::control::auth {

// Every result a fetch ends with (a metric label); "ok" first.
inline constexpr const char* kIssuerFetchResults[] = {
    "ok",        "tls_error", "network_error", "http_error",
    "malformed", "no_keys",   "wrong_issuer",  "token_file_error"};

struct IssuerKeys {
  std::shared_ptr<const Jwks> jwks;
  std::string jwks_uri;
  std::string text;  // the key set as fetched, to tell a change
};

// Thread-compatible; Fetch blocks (the refresher thread calls it).
class IssuerKeyFetcher {
 public:
  struct Options {
    std::string issuer;      // https://..., the tokens' "iss"
    std::string token_file;  // empty: no Authorization header
  };
  IssuerKeyFetcher(std::unique_ptr<http::HttpsClient> client, Options options)
      : client_(std::move(client)), options_(std::move(options)) {}

  // The keys, or a Refusal whose reason is one of kIssuerFetchResults and
  // whose message names the URL and the problem.
  absl::StatusOr<IssuerKeys> Fetch() const;

  // <issuer>/.well-known/openid-configuration (a trailing "/" dropped first).
  static std::string DiscoveryUrl(const std::string& issuer);

 private:
  absl::StatusOr<std::string> Get(const std::string& url, const std::string& token) const;

  const std::unique_ptr<http::HttpsClient> client_;
  const Options options_;
};

}  // namespace palisade::control::auth

#endif  // PALISADE_CONTROL_AUTH_ISSUER_KEY_FETCHER_H_
