#include "tests/integration/prometheus_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/util/loopback.h"
#include "tests/util/subprocess.h"

namespace palisade::testing {
namespace {

std::string CurrentDirectory() {
  char buf[4096];
  return getcwd(buf, sizeof(buf)) != nullptr ? buf : ".";
}

}  // namespace

absl::StatusOr<std::unique_ptr<PrometheusServer>> PrometheusServer::Start(
    const std::string& dir, const std::vector<std::string>& targets,
    const std::vector<std::string>& rule_files) {
  const std::string config_path = dir + "/prometheus.yml";
  std::vector<std::string> quoted;
  for (const auto& t : targets) quoted.push_back(absl::StrCat("\"", t, "\""));
  std::string rules;
  if (!rule_files.empty()) {
    rules = "rule_files:\n";
    for (const auto& f : rule_files) {
      // Relative paths are relative to the config file, in another directory.
      const std::string path = f.front() == '/' ? f : absl::StrCat(CurrentDirectory(), "/", f);
      absl::StrAppend(&rules, "  - \"", path, "\"\n");
    }
  }
  const std::string config = absl::StrCat(R"(global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
)",
                                          rules, R"(scrape_configs:
  - job_name: palisade
    metrics_path: /metrics
    static_configs:
      - targets: [)",
                                          absl::StrJoin(quoted, ", "), "]\n");
  if (!WriteFile(config_path, config)) return absl::InternalError("cannot write prometheus.yml");

  // Another process may take the port between PickFreeLoopbackPort and Prometheus's
  // bind; try a few.
  std::string last_output;
  for (int attempt = 0; attempt < 3; ++attempt) {
    const uint16_t port = PickFreeLoopbackPort();
    const std::string data = absl::StrCat(dir, "/tsdb-", attempt);
    auto process = Process::Start(
        {kPrometheusBinary, "--config.file=" + config_path, "--storage.tsdb.path=" + data,
         absl::StrCat("--web.listen-address=127.0.0.1:", port), "--log.level=warn"},
        absl::StrCat(dir, "/prometheus-", attempt, ".log"));
    if (!process.ok()) return process.status();
    auto server = std::unique_ptr<PrometheusServer>(new PrometheusServer());
    server->process_ = *std::move(process);
    server->url_ = absl::StrCat("http://127.0.0.1:", port);
    const bool ready = WaitFor(
        [&] {
          return !server->process_->Running() || HttpGet(server->url_ + "/-/ready").status == 200;
        },
        absl::Seconds(60), absl::Milliseconds(100));
    if (ready && server->process_->Running()) return server;
    // Losing the port race ends Prometheus with an error; the next attempt
    // (or the error below) covers it.
    last_output = absl::StrCat(server->process_->Output(), ExitForCaller(*server->process_));
  }
  return absl::UnavailableError(absl::StrCat("prometheus did not start:\n", last_output));
}

absl::StatusOr<nlohmann::json> PrometheusServer::Query(const std::string& promql) {
  const CommandResult r = RunCommand({"curl", "-s", "-m", "10", "-G", url_ + "/api/v1/query",
                                      "--data-urlencode", "query=" + promql},
                                     absl::Seconds(15));
  if (r.exit_code != 0) return absl::UnavailableError(absl::StrCat(r.command, ": ", r.output));
  const nlohmann::json body = nlohmann::json::parse(r.output, nullptr, false);
  if (body.is_discarded() || body.value("status", "") != "success") {
    return absl::InvalidArgumentError(absl::StrCat(promql, ": ", r.output));
  }
  return body["data"]["result"];
}

absl::StatusOr<double> PrometheusServer::QueryScalar(const std::string& promql) {
  absl::StatusOr<nlohmann::json> result = Query(promql);
  if (!result.ok()) return result.status();
  if (result->size() != 1) {
    return absl::NotFoundError(absl::StrCat(promql, " gave ", result->size(), " samples"));
  }
  double value;
  const std::string text = (*result)[0]["value"][1].get<std::string>();
  if (!absl::SimpleAtod(text, &value)) return absl::InternalError("bad value " + text);
  return value;
}

}  // namespace palisade::testing
