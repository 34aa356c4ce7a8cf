#include "proxy/config/config_loader.h"

#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "proxy/config/config_defaults.h"
#include "proxy/config/config_errors.h"
#include "proxy/config/config_validator.h"
#include "proxy/config/yaml_to_proto.h"
#include "runtime/files/files.h"
#include "runtime/status/status_macros.h"

namespace palisade::config {
namespace {

using v1::ProxyConfig;

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  return slash == 0 ? "/" : path.substr(0, slash);
}

void Resolve(const std::string& base, std::string* file) {
  if (base.empty() || file->empty() || (*file)[0] == '/') return;
  *file = base == "/" ? absl::StrCat("/", *file) : absl::StrCat(base, "/", *file);
}

void ResolveFileNames(const std::string& base, ProxyConfig* config) {
  if (base.empty()) return;
  for (v1::InboundListener& in : *config->mutable_inbound()) {
    if (!in.has_gateway()) continue;
    for (std::string& file : *in.mutable_gateway()->mutable_trust_store_files())
      Resolve(base, &file);
    for (std::string& file : *in.mutable_gateway()->mutable_crl_files()) Resolve(base, &file);
  }
  if (!config->has_identity()) return;
  v1::IdentitySource* identity = config->mutable_identity();
  if (identity->has_files()) {
    v1::FileIdentitySource* files = identity->mutable_files();
    Resolve(base, files->mutable_certificate_chain_file());
    Resolve(base, files->mutable_private_key_file());
    for (v1::TrustBundleFile& bundle : *files->mutable_trust_bundles()) {
      Resolve(base, bundle.mutable_file());
    }
  }
  if (identity->has_control_plane()) {
    v1::ControlPlaneIdentitySource* cp = identity->mutable_control_plane();
    Resolve(base, cp->mutable_bootstrap_bundle_file());
    if (cp->has_join_token_file()) Resolve(base, cp->mutable_join_token_file());
    if (cp->has_service_account_token_file()) {
      Resolve(base, cp->mutable_service_account_token_file());
    }
    Resolve(base, cp->mutable_reattestation_token_file());
  }
}

}  // namespace

absl::StatusOr<ProxyConfig> LoadProxyConfigYaml(absl::string_view yaml,
                                                absl::string_view source_name,
                                                const LoadOptions& options) {
  ProxyConfig config;
  FieldPositions positions;
  ConfigErrors errors;
  errors.set_positions(&positions);
  YamlToProto(yaml, &config, &errors, &positions);
  for (const ConfigError& error : errors.errors()) {
    // The document as a whole is unusable (syntax, empty, not a map).
    if (error.path.empty()) return errors.ToStatus(source_name);
  }

  ResolveFileNames(options.base_directory, &config);

  // Semantic checks run even when some fields were refused, so one attempt
  // shows every mistake; a complaint about a field that was already refused
  // (or lies inside or around it) would only repeat it, and is dropped.
  ConfigErrors semantic;
  ValidateProxyConfig(config, &semantic);
  std::vector<const ConfigError*> fresh;
  for (const ConfigError& error : semantic.errors()) {
    if (!errors.TouchesPath(error.path)) fresh.push_back(&error);
  }
  for (const ConfigError* error : fresh) errors.Add(error->path, error->message);
  if (!errors.empty()) return errors.ToStatus(source_name);

  const unsigned hardware_threads = options.hardware_threads != 0
                                        ? options.hardware_threads
                                        : std::thread::hardware_concurrency();
  ApplyDefaults(hardware_threads, &config);
  return config;
}

absl::StatusOr<ProxyConfig> LoadProxyConfigFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string yaml, files::ReadSmallFile(path, "config file"));
  LoadOptions options;
  options.base_directory = DirectoryOf(path);
  return LoadProxyConfigYaml(yaml, path, options);
}

}  // namespace palisade::config
