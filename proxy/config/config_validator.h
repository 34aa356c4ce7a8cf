// What the schema's types cannot say about a proxy configuration: required
// fields, listener names, addresses and their conflicts, the loopback rules,
// readable PEM and token files, SPIFFE IDs and trust domains, the TLS floor,
// and ranges. Every problem names the field path.
#ifndef PALISADE_PROXY_CONFIG_CONFIG_VALIDATOR_H_
#define PALISADE_PROXY_CONFIG_CONFIG_VALIDATOR_H_

#include "absl/status/status.h"
#include "proto/palisade/config/v1/config.pb.h"
#include "proxy/config/config_errors.h"

namespace palisade::config {

// Accepts a configuration as written (absent fields mean their defaults) or
// with ApplyDefaults already applied, with the same result. Reads the files it
// names (only to see that they exist, are readable and look like PEM; parsing
// certificates is the credentials layer's job); relative paths are relative to
// the working directory.
//
// Adds one error per problem to `errors`.
void ValidateProxyConfig(const v1::ProxyConfig& config, ConfigErrors* errors);

// The same, as InvalidArgument("configuration: ...") listing every problem.
absl::Status ValidateProxyConfig(const v1::ProxyConfig& config);

}  // namespace palisade::config

#endif  // PALISADE_PROXY_CONFIG_CONFIG_VALIDATOR_H_
