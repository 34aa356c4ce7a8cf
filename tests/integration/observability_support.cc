#include "tests/integration/observability_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <regex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace palisade::testing {

CommandResult SClient(uint16_t port, const std::string& dir, const std::string& name) {
  std::vector<std::string> argv = {
      "openssl", "s_client",          "-connect", absl::StrCat("127.0.0.1:", port),
      "-CAfile", dir + "/bundle.pem", "-quiet",   "-ign_eof"};
  if (!name.empty()) {
    const std::string pem = absl::StrCat(dir, "/", name, ".pem");
    argv.insert(argv.end(),
                {"-cert", pem, "-cert_chain", pem, "-key", absl::StrCat(dir, "/", name, ".key")});
  }
  return RunCommand(argv, absl::Seconds(4), "hello\n");
}

std::set<std::string> ExportedMetricNames(const std::string& metrics_text) {
  std::set<std::string> names;
  for (absl::string_view line : absl::StrSplit(metrics_text, '\n')) {
    if (!absl::ConsumePrefix(&line, "# TYPE ")) continue;
    const std::vector<std::string> parts = absl::StrSplit(line, ' ');
    if (parts.size() != 2) continue;
    names.insert(parts[0]);
    if (parts[1] == "histogram") {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) names.insert(parts[0] + suffix);
    }
  }
  return names;
}

std::set<std::string> PalisadeMetricNamesIn(const std::string& text) {
  static const std::regex kName("palisade_[a-zA-Z0-9_:]*[a-zA-Z0-9]");
  std::set<std::string> names;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kName);
       it != std::sregex_iterator(); ++it) {
    names.insert(it->str());
  }
  return names;
}

namespace {

void CollectQueries(const nlohmann::json& panels, std::vector<std::string>* out) {
  for (const auto& panel : panels) {
    if (panel.contains("targets")) {
      for (const auto& target : panel["targets"]) {
        if (target.contains("expr")) out->push_back(target["expr"].get<std::string>());
      }
    }
    if (panel.contains("panels")) CollectQueries(panel["panels"], out);
  }
}

}  // namespace

std::vector<std::string> DashboardQueries(const nlohmann::json& dashboard) {
  std::vector<std::string> queries;
  if (dashboard.contains("panels")) CollectQueries(dashboard["panels"], &queries);
  if (dashboard.contains("templating")) {
    for (const auto& variable : dashboard["templating"]["list"]) {
      if (variable.value("type", "") == "query") {
        queries.push_back(variable.value("definition", ""));
      }
    }
  }
  return queries;
}

std::string ExpandGrafanaVariables(std::string expr) {
  // label_values(selector, label): Grafana asks for the series of selector.
  constexpr absl::string_view kLabelValues = "label_values(";
  if (absl::StartsWith(expr, kLabelValues)) {
    expr = expr.substr(kLabelValues.size(), expr.rfind(',') - kLabelValues.size());
  }
  return absl::StrReplaceAll(expr, {{"$__rate_interval", "1m"},
                                    {"$__interval", "15s"},
                                    {"$__range", "1h"},
                                    {"$instance", ".*"},
                                    {"$job", ".+"}});
}

}  // namespace palisade::testing
