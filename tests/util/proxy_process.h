// A real palisade-proxy for tests: started from a YAML config whose ports may
// all be 0 (it tells its admin address through a file, its listeners through
// the admin API), with condition waits on what its admin API shows.
#ifndef PALISADE_TESTS_UTIL_PROXY_PROCESS_H_
#define PALISADE_TESTS_UTIL_PROXY_PROCESS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/util/process.h"

namespace palisade::testing {

// Where Bazel puts the binary in a test's runfiles.
inline constexpr char kProxyBinary[] = "proxy/palisade-proxy";

class ProxyProcess {
 public:
  // Writes <dir>/<name>.yaml and starts the proxy (log: <dir>/<name>.log);
  // returns once its admin server answers (not necessarily ready: see
  // WaitReady).
  static absl::StatusOr<std::unique_ptr<ProxyProcess>> Start(const std::string& dir,
                                                             const std::string& name,
                                                             const std::string& config_yaml,
                                                             const SpawnOptions& spawn = {});
  const std::string& admin_url() const { return admin_url_; }
  // The file it was started with; rewrite it and send SIGHUP to reload.
  const std::string& config_path() const { return config_path_; }
  // The bound port of a listener by name (the config may have said 0).
  absl::StatusOr<uint16_t> ListenerPort(const std::string& listener);
  bool WaitReady(absl::Duration timeout = absl::Seconds(20));
  std::string Metrics();
  // GET /certs, parsed; a discarded value when it cannot be read.
  nlohmann::json Certs();
  // Waits until the sum of the samples of `name` matching `labels` is at
  // least `at_least`.
  bool WaitForMetricSum(const std::string& name, const std::map<std::string, std::string>& labels,
                        double at_least, absl::Duration timeout = absl::Seconds(10));
  // Waits until its log holds `text`.
  bool WaitForLog(const std::string& text, absl::Duration timeout = absl::Seconds(10));
  Process& process() { return *process_; }

 private:
  std::unique_ptr<Process> process_;
  std::string admin_url_;
  std::string config_path_;
};

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_UTIL_PROXY_PROCESS_H_
