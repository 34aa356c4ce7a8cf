// The proxy's configuration from YAML: parse, convert onto palisade.config.v1,
// check what the schema cannot say, and write every documented default into the
// result, so the returned proto is the effective configuration (what an admin
// /config endpoint prints).
#ifndef PALISADE_PROXY_CONFIG_CONFIG_LOADER_H_
#define PALISADE_PROXY_CONFIG_CONFIG_LOADER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/palisade/config/v1/config.pb.h"

namespace palisade::config {

struct LoadOptions {
  // Relative file names in the configuration (certificates, keys, bundles,
  // tokens) are resolved against this directory, and the result holds the
  // resolved names. Empty: left as written, i.e. relative to the working
  // directory.
  std::string base_directory;
  // Resolves `runtime.workers: 0`. 0 here: std::thread::hardware_concurrency().
  unsigned hardware_threads = 0;
};

// Reads `path`. Relative file names inside are taken relative to the directory
// holding `path` (as Prometheus does), so a config and its certificates can
// move together. Errors: NotFound/PermissionDenied/... when the file cannot be
// read; InvalidArgument listing every problem found in it, each as
// `field.path (line L, column C): problem`.
absl::StatusOr<v1::ProxyConfig> LoadProxyConfigFile(const std::string& path);

// The same from text; `source_name` names it in errors.
absl::StatusOr<v1::ProxyConfig> LoadProxyConfigYaml(absl::string_view yaml,
                                                    absl::string_view source_name,
                                                    const LoadOptions& options = {});

}  // namespace palisade::config

#endif  // PALISADE_PROXY_CONFIG_CONFIG_LOADER_H_
