// A real Prometheus server (Debian's /usr/bin/prometheus) for tests: started
// on loopback with a fresh TSDB under the test's temp dir, scraping the given
// targets every second, queried through its HTTP API.
#ifndef PALISADE_TESTS_INTEGRATION_PROMETHEUS_SERVER_H_
#define PALISADE_TESTS_INTEGRATION_PROMETHEUS_SERVER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/util/process.h"

namespace palisade::testing {

inline constexpr char kPrometheusBinary[] = "/usr/bin/prometheus";

class PrometheusServer {
 public:
  // `targets`: "host:port" of admin servers, scraped at /metrics under job
  // "palisade", with `rule_files` (paths) evaluated every second. Returns
  // once Prometheus answers /-/ready.
  static absl::StatusOr<std::unique_ptr<PrometheusServer>> Start(
      const std::string& dir, const std::vector<std::string>& targets,
      const std::vector<std::string>& rule_files = {});

  // GET /api/v1/query: the "result" array of an instant vector query.
  absl::StatusOr<nlohmann::json> Query(const std::string& promql);
  // The value of a query that yields one sample; error if none or several.
  absl::StatusOr<double> QueryScalar(const std::string& promql);

  const std::string& url() const { return url_; }
  Process& process() { return *process_; }

 private:
  std::unique_ptr<Process> process_;
  std::string url_;
};

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_INTEGRATION_PROMETHEUS_SERVER_H_
