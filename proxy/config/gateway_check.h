// The config checks of an inbound listener's gateway (GatewayClients) and
// per-listener TLS version, apart from the rest of the validator: errors
// name the field, e.g. `inbound[0].gateway.trust_store_files[1]`.
#ifndef PALISADE_PROXY_CONFIG_GATEWAY_CHECK_H_
#define PALISADE_PROXY_CONFIG_GATEWAY_CHECK_H_

#include <string>

#include "proto/palisade/config/v1/config.pb.h"
#include "proxy/config/config_errors.h"

namespace palisade::config {

// `path` is the listener's ("inbound[0]").
void CheckGatewayListener(const std::string& path, const v1::InboundListener& in,
                          ConfigErrors* errors);

}  // namespace palisade::config

#endif  // PALISADE_PROXY_CONFIG_GATEWAY_CHECK_H_
