// Real Palisade processes for integration tests: a palisade-proxy started
// from a YAML config with every port 0 (it tells its ports through the admin
// API), and echo backends that tell their port through a file.
#ifndef PALISADE_TESTS_UTIL_MESH_PROCESSES_H_
#define PALISADE_TESTS_UTIL_MESH_PROCESSES_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/util/process.h"

namespace palisade::testing {

// Where Bazel puts the binaries in a test's runfiles.
inline constexpr char kProxyBinary[] = "proxy/palisade-proxy";
inline constexpr char kEchoServerBinary[] = "tests/util/echo_server";

class ProxyProcess {
 public:
  // Writes <dir>/<name>.yaml and starts the proxy; returns once its admin
  // server answers (not necessarily ready: see WaitReady).
  static absl::StatusOr<std::unique_ptr<ProxyProcess>> Start(const std::string& dir,
                                                             const std::string& name,
                                                             const std::string& config_yaml);
  const std::string& admin_url() const { return admin_url_; }
  // The bound port of a listener by name (the config may have said 0).
  absl::StatusOr<uint16_t> ListenerPort(const std::string& listener);
  bool WaitReady(absl::Duration timeout = absl::Seconds(20));
  std::string Metrics();
  Process& process() { return *process_; }

 private:
  std::unique_ptr<Process> process_;
  std::string admin_url_;
};

class EchoServer {
 public:
  // mode: "echo" or "http". Records accepted/closed connections.
  static absl::StatusOr<std::unique_ptr<EchoServer>> Start(const std::string& dir,
                                                           const std::string& name,
                                                           const std::string& mode = "echo");
  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // One line per event: "accept <peer>" and "close bytes=<n>".
  std::vector<std::string> Records() const;

 private:
  std::unique_ptr<Process> process_;
  uint16_t port_ = 0;
  std::string record_path_;
};

// The start of a proxy config whose SVID comes from palisade-control with a
// join token: the identity section, then an admin server on port 0, two
// workers and a short drain, as tests want them. Listeners come after.
struct ControlPlaneIdentity {
  std::string spiffe_id;
  std::string control_address;  // palisade-control's identity port
  std::string server_spiffe_id;
  std::string bootstrap_bundle_file;
  std::string join_token_file;
  std::string instance_name;  // "" leaves it to the proxy
  std::string initial_backoff = "200ms";
  std::string max_backoff = "1s";
  std::string log_level = "debug";
  std::string log_format = "text";
};
std::string ControlPlaneProxyYaml(const ControlPlaneIdentity& identity);

// The value of the first sample of `name` whose labels include all of
// `labels` in Prometheus text output; nullopt when absent.
std::optional<double> MetricValue(const std::string& text, const std::string& name,
                                  const std::map<std::string, std::string>& labels = {});
// The sum over all samples of `name` matching `labels`.
double MetricSum(const std::string& text, const std::string& name,
                 const std::map<std::string, std::string>& labels = {});

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_UTIL_MESH_PROCESSES_H_
