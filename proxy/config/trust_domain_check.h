// The federation check of a proxy configuration: every trust domain a
// listener authorizes or expects must have a trust bundle source (a file, the
// control plane's own domain, or a federated domain it delivers), or no peer
// of it could ever be verified. Errors name the field, e.g.
// `outbound[1].expected_peer.trust_domain`.
#ifndef PALISADE_PROXY_CONFIG_TRUST_DOMAIN_CHECK_H_
#define PALISADE_PROXY_CONFIG_TRUST_DOMAIN_CHECK_H_

#include <optional>
#include <string>
#include <vector>

#include "proto/palisade/config/v1/config.pb.h"
#include "proxy/config/config_errors.h"

namespace palisade::config {

// The trust domains whose bundles the identity source provides, or nullopt
// when that cannot be told (no source or no bundle file, or the IDs naming the own domain are
// invalid: already reported elsewhere). With control_plane identity: the own
// domain (identity.spiffe_id's, else server_spiffe_id's: palisade-control
// issues in its own domain) and control_plane.federated_trust_domains.
std::optional<std::vector<std::string>> TrustBundleSources(const v1::IdentitySource& identity);

// Checks control_plane.federated_trust_domains and that every trust domain of
// inbound[].authorization (not on gateway listeners) and of every outbound
// expected_peer has a source. Values that do not parse are left to the
// validator's own checks.
void CheckTrustDomainSources(const v1::ProxyConfig& config, ConfigErrors* errors);

}  // namespace palisade::config

#endif  // PALISADE_PROXY_CONFIG_TRUST_DOMAIN_CHECK_H_
