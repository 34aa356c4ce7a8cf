// Transitional: the pieces that used to live here are now proxy_process.h,
// echo_backend.h and prometheus_text.h; proxy YAML comes from proxy_yaml.h.
// Removed once every test uses them directly.
#ifndef PALISADE_TESTS_UTIL_MESH_PROCESSES_H_
#define PALISADE_TESTS_UTIL_MESH_PROCESSES_H_

#include <string>

#include "tests/util/echo_backend.h"
#include "tests/util/prometheus_text.h"
#include "tests/util/proxy_process.h"

namespace palisade::testing {

using EchoServer = EchoBackend;

struct ControlPlaneIdentity {
  std::string spiffe_id;
  std::string control_address;
  std::string server_spiffe_id;
  std::string bootstrap_bundle_file;
  std::string join_token_file;
  std::string instance_name;
  std::string initial_backoff = "200ms";
  std::string max_backoff = "1s";
  std::string log_level = "debug";
  std::string log_format = "text";
};
std::string ControlPlaneProxyYaml(const ControlPlaneIdentity& identity);

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_UTIL_MESH_PROCESSES_H_
