// A mesh of real processes on loopback for integration and end-to-end tests,
// all in one temporary directory: palisade-control when the test wants one,
// palisade-proxy processes with file identity (the test PKI) or control-plane
// identity (join tokens), and echo/HTTP backends. It owns every process and
// stops proxies, then backends, then the control plane.
#ifndef PALISADE_TESTS_UTIL_MESH_FIXTURE_H_
#define PALISADE_TESTS_UTIL_MESH_FIXTURE_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/util/control_process.h"
#include "tests/util/echo_backend.h"
#include "tests/util/proxy_process.h"
#include "tests/util/proxy_yaml.h"
#include "tests/util/test_pki.h"

namespace palisade::testing {

class MeshFixture {
 public:
  struct Options {
    std::string trust_domain = "cluster.local";
    std::string dir_prefix = "mesh";
  };
  MeshFixture() : MeshFixture(Options()) {}
  explicit MeshFixture(const Options& options);
  ~MeshFixture();
  MeshFixture(const MeshFixture&) = delete;
  MeshFixture& operator=(const MeshFixture&) = delete;

  const std::string& dir() const { return dir_; }
  const std::string& trust_domain() const { return options_.trust_domain; }
  // "spiffe://<trust domain><path>".
  std::string SpiffeId(const std::string& path) const;
  // The trust domain's test PKI, made on first use.
  TestPki& pki();

  // Starts palisade-control for the mesh's trust domain, `flags` last.
  absl::Status StartControl(const std::vector<std::string>& flags = {});
  ControlProcess& control() { return *control_; }
  bool has_control() const { return control_ != nullptr; }
  // SIGTERM; its exit status, or nullopt when none ran or it hung.
  std::optional<int> StopControl();
  // kill -9: the control plane vanishes without a word (an outage).
  void KillControl();

  // mode: "echo", "http" or "sink".
  absl::StatusOr<EchoBackend*> StartBackend(const std::string& name,
                                            const std::string& mode = "echo");
  EchoBackend& backend(const std::string& name) { return *backends_.at(name); }

  // A proxy config with the tests' defaults and no identity or listeners:
  // admin on 127.0.0.1:0, two workers, a 5 s drain, debug logs.
  ProxyYaml BaseConfig() const;
  // BaseConfig with file identity: <dir>/<name>.pem and .key, and
  // <dir>/bundle.pem for the mesh's trust domain (see WriteSvid).
  ProxyYaml FileIdentityConfig(const std::string& name, const std::string& spiffe_id) const;
  // Issues a valid SVID for `path` (e.g. "/ns/shop/sa/cart") and writes the
  // files FileIdentityConfig names.
  void WriteSvid(const std::string& name, const std::string& path);
  // BaseConfig with control-plane identity: a fresh join token for
  // `spiffe_id` in <dir>/<name>.token, and short reconnect backoffs.
  absl::StatusOr<ProxyYaml> ControlPlaneConfig(const std::string& name,
                                               const std::string& spiffe_id);

  // Starts proxy `name` (stopping one of that name first); returns once its
  // admin API answers.
  absl::StatusOr<ProxyProcess*> StartProxy(const std::string& name, const ProxyYaml& config,
                                           const SpawnOptions& spawn = {});
  // The same, then waits until it is ready.
  absl::StatusOr<ProxyProcess*> StartReadyProxy(const std::string& name, const ProxyYaml& config,
                                                absl::Duration timeout = absl::Seconds(20),
                                                const SpawnOptions& spawn = {});
  ProxyProcess& proxy(const std::string& name) { return *proxies_.at(name); }
  void StopProxy(const std::string& name);
  void StopProxies();

  // Every process's log, for failure messages.
  std::string Logs();

 private:
  Options options_;
  std::string dir_;
  std::optional<TestPki> pki_;
  std::unique_ptr<ControlProcess> control_;
  std::map<std::string, std::unique_ptr<EchoBackend>> backends_;
  std::map<std::string, std::unique_ptr<ProxyProcess>> proxies_;
};

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_UTIL_MESH_FIXTURE_H_
