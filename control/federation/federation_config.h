// The --federation_file: per foreign trust domain, where its SPIFFE bundle
// endpoint is, how that endpoint authenticates (https_spiffe: an SVID of
// that domain chaining to its current bundle; https_web: a server
// certificate for the URL's host under a CA file), and the bundle to trust
// before the first fetch. Parsed once at start; errors name the field
// ("federation[1].endpoint_spiffe_id: ...").
#ifndef PALISADE_CONTROL_FEDERATION_FEDERATION_CONFIG_H_
#define PALISADE_CONTROL_FEDERATION_FEDERATION_CONFIG_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "identity/spiffe_bundle.h"

namespace palisade::control::federation {

enum class EndpointProfile { kHttpsSpiffe, kHttpsWeb };
const char* ProfileName(EndpointProfile profile);

struct FederatedDomain {
  std::string trust_domain;
  std::string bundle_endpoint_url;  // https:// only
  EndpointProfile profile = EndpointProfile::kHttpsSpiffe;
  // https_spiffe: the endpoint's SPIFFE ID (in trust_domain) and the
  // bundle trusted until the first good fetch (PEM roots or SPIFFE bundle
  // JSON).
  std::string endpoint_spiffe_id;
  std::string initial_bundle_file;
  // https_web: the CA file (PEM) that vouches for the endpoint's server.
  std::string ca_file;
};

// Parses the YAML text of a federation file (`federation:` a list of
// domains). InvalidArgument naming the field: unknown or missing fields, a
// URL that is not https, an unknown profile, an endpoint SPIFFE ID outside
// its domain, `own_trust_domain` or a domain listed twice.
absl::StatusOr<std::vector<FederatedDomain>> ParseFederationConfig(
    absl::string_view yaml, absl::string_view own_trust_domain);

// Reads and parses `path`; errors start with "--federation_file <path>: ".
// Also loads each https_spiffe domain's initial bundle and each https_web
// domain's CA file once, so a bad file refuses start.
absl::StatusOr<std::vector<FederatedDomain>> LoadFederationFile(const std::string& path,
                                                                absl::string_view own_trust_domain);

// The initial bundle of an https_spiffe domain: the file as SPIFFE bundle
// JSON when it starts with "{", else PEM CA certificates (no sequence).
// Errors name the field and the file.
absl::StatusOr<identity::SpiffeBundle> LoadInitialBundle(const FederatedDomain& domain,
                                                         size_t index);

}  // namespace palisade::control::federation

#endif  // PALISADE_CONTROL_FEDERATION_FEDERATION_CONFIG_H_
