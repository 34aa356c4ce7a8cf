#include "tests/util/mesh_fixture.h"

#include "absl/strings/str_cat.h"

namespace palisade::testing {

MeshFixture::MeshFixture(const Options& options)
    : options_(options), dir_(MakeTempDir(options.dir_prefix)) {}

MeshFixture::~MeshFixture() {
  StopProxies();
  backends_.clear();
  control_.reset();
}

std::string MeshFixture::SpiffeId(const std::string& path) const {
  return absl::StrCat("spiffe://", options_.trust_domain, path);
}

TestPki& MeshFixture::pki() {
  if (!pki_.has_value()) {
    TestPki::Options options;
    options.trust_domain = options_.trust_domain;
    pki_.emplace(options);
  }
  return *pki_;
}

absl::Status MeshFixture::StartControl(const std::vector<std::string>& flags) {
  StopControl();
  std::vector<std::string> argv = {"--trust_domain=" + options_.trust_domain};
  argv.insert(argv.end(), flags.begin(), flags.end());
  absl::StatusOr<std::unique_ptr<ControlProcess>> control = ControlProcess::Start(dir_, argv);
  if (!control.ok()) return control.status();
  control_ = *std::move(control);
  return absl::OkStatus();
}

std::optional<int> MeshFixture::StopControl() {
  if (control_ == nullptr) return std::nullopt;
  const std::optional<int> status = control_->process().Stop();
  control_.reset();
  return status;
}

void MeshFixture::KillControl() {
  if (control_ == nullptr) return;
  control_->process().Kill();
  control_.reset();
}

absl::StatusOr<EchoBackend*> MeshFixture::StartBackend(const std::string& name,
                                                       const std::string& mode) {
  backends_.erase(name);
  absl::StatusOr<std::unique_ptr<EchoBackend>> backend = EchoBackend::Start(dir_, name, mode);
  if (!backend.ok()) return backend.status();
  EchoBackend* started = backend->get();
  backends_[name] = *std::move(backend);
  return started;
}

ProxyYaml MeshFixture::BaseConfig() const {
  ProxyYaml config;
  config.admin.address = "127.0.0.1:0";
  config.runtime.workers = 2;
  config.runtime.drain_timeout = "5s";
  config.logging.level = "debug";
  return config;
}

ProxyYaml MeshFixture::FileIdentityConfig(const std::string& name,
                                          const std::string& spiffe_id) const {
  ProxyYaml config = BaseConfig();
  config.identity.spiffe_id = spiffe_id;
  config.identity.files = ProxyYaml::Files{absl::StrCat(dir_, "/", name, ".pem"),
                                           absl::StrCat(dir_, "/", name, ".key"),
                                           {{options_.trust_domain, dir_ + "/bundle.pem"}}};
  return config;
}

void MeshFixture::WriteSvid(const std::string& name, const std::string& path) {
  pki().WriteFiles(dir_, name, pki().IssueLeaf(path));
}

absl::StatusOr<ProxyYaml> MeshFixture::ControlPlaneConfig(const std::string& name,
                                                          const std::string& spiffe_id) {
  if (control_ == nullptr) return absl::FailedPreconditionError("no control plane started");
  absl::StatusOr<nlohmann::json> token = control_->CreateJoinToken(spiffe_id);
  if (!token.ok()) return token.status();
  const std::string token_file = absl::StrCat(dir_, "/", name, ".token");
  if (!WriteFile(token_file, (*token)["token"].get<std::string>() + "\n")) {
    return absl::InternalError("cannot write " + token_file);
  }
  ProxyYaml config = BaseConfig();
  config.identity.spiffe_id = spiffe_id;
  ProxyYaml::ControlPlane& cp = config.identity.control_plane.emplace();
  cp.address = control_->identity_address();
  cp.server_spiffe_id = control_->server_spiffe_id();
  cp.bootstrap_bundle_file = control_->bundle_file();
  cp.join_token_file = token_file;
  cp.instance_name = name;
  cp.initial_backoff = "200ms";
  cp.max_backoff = "1s";
  return config;
}

absl::StatusOr<ProxyProcess*> MeshFixture::StartProxy(const std::string& name,
                                                      const ProxyYaml& config,
                                                      const SpawnOptions& spawn) {
  StopProxy(name);
  absl::StatusOr<std::unique_ptr<ProxyProcess>> proxy =
      ProxyProcess::Start(dir_, name, config.ToString(), spawn);
  if (!proxy.ok()) return proxy.status();
  ProxyProcess* started = proxy->get();
  proxies_[name] = *std::move(proxy);
  return started;
}

absl::StatusOr<ProxyProcess*> MeshFixture::StartReadyProxy(const std::string& name,
                                                           const ProxyYaml& config,
                                                           absl::Duration timeout,
                                                           const SpawnOptions& spawn) {
  absl::StatusOr<ProxyProcess*> proxy = StartProxy(name, config, spawn);
  if (!proxy.ok()) return proxy.status();
  if (!(*proxy)->WaitReady(timeout)) {
    return absl::DeadlineExceededError(absl::StrCat(
        "palisade-proxy ", name, " never became ready:\n", (*proxy)->process().Output()));
  }
  return proxy;
}

void MeshFixture::StopProxy(const std::string& name) { proxies_.erase(name); }

void MeshFixture::StopProxies() { proxies_.clear(); }

std::string MeshFixture::Logs() {
  std::string logs;
  if (control_ != nullptr) {
    absl::StrAppend(&logs, "--- palisade-control\n", control_->process().Output(), "\n");
  }
  for (auto& [name, proxy] : proxies_) {
    absl::StrAppend(&logs, "--- ", name, "\n", proxy->process().Output(), "\n");
  }
  return logs;
}

}  // namespace palisade::testing
