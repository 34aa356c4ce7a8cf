#include "tests/util/mesh_processes.h"

#include "absl/strings/str_cat.h"

namespace palisade::testing {

std::string ControlPlaneProxyYaml(const ControlPlaneIdentity& identity) {
  return absl::StrCat(
      "identity:\n  spiffe_id: \"", identity.spiffe_id,
      "\"\n  control_plane:\n    address: ", identity.control_address, "\n    server_spiffe_id: \"",
      identity.server_spiffe_id, "\"\n    bootstrap_bundle_file: ", identity.bootstrap_bundle_file,
      "\n    join_token_file: ", identity.join_token_file,
      identity.instance_name.empty() ? "" : "\n    instance_name: ", identity.instance_name,
      "\n    initial_backoff: ", identity.initial_backoff,
      "\n    max_backoff: ", identity.max_backoff,
      "\nadmin:\n  address: 127.0.0.1:0\nruntime:\n  workers: 2\n  drain_timeout: 2s\n"
      "logging:\n  level: ",
      identity.log_level, "\n  format: ", identity.log_format, "\n");
}

}  // namespace palisade::testing
