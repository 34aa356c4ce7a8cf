#include "tests/util/mesh_processes.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace palisade::testing {

absl::StatusOr<std::unique_ptr<ProxyProcess>> ProxyProcess::Start(const std::string& dir,
                                                                  const std::string& name,
                                                                  const std::string& config_yaml) {
  const std::string config_path = absl::StrCat(dir, "/", name, ".yaml");
  const std::string address_file = absl::StrCat(dir, "/", name, ".admin");
  if (!WriteFile(config_path, config_yaml)) return absl::InternalError("cannot write config");
  std::remove(address_file.c_str());  // a previous proxy's address is not ours
  auto process = Process::Start(
      {kProxyBinary, "--config=" + config_path, "--admin_address_file=" + address_file},
      absl::StrCat(dir, "/", name, ".log"));
  if (!process.ok()) return process.status();
  auto proxy = std::unique_ptr<ProxyProcess>(new ProxyProcess());
  proxy->process_ = *std::move(process);
  std::string address;
  const bool up = WaitFor(
      [&] {
        address = std::string(absl::StripAsciiWhitespace(ReadFileOrEmpty(address_file)));
        return !address.empty() || !proxy->process_->Running();
      },
      absl::Seconds(20));
  if (!up || address.empty()) {
    return absl::UnavailableError(absl::StrCat("palisade-proxy ", name, " did not start",
                                               ExitForCaller(*proxy->process_), ":\n",
                                               proxy->process_->Output()));
  }
  proxy->admin_url_ = "http://" + address;
  return proxy;
}

absl::StatusOr<uint16_t> ProxyProcess::ListenerPort(const std::string& listener) {
  const HttpResult r = HttpGet(admin_url_ + "/listeners");
  if (r.status != 200) return absl::UnavailableError("GET /listeners failed");
  const nlohmann::json list = nlohmann::json::parse(r.body, nullptr, false);
  for (const auto& l : list) {
    if (l.value("name", "") != listener) continue;
    const std::string address = l.value("address", "");
    uint32_t port;
    if (absl::SimpleAtoi(address.substr(address.rfind(':') + 1), &port)) {
      return static_cast<uint16_t>(port);
    }
  }
  return absl::NotFoundError("no listener " + listener);
}

bool ProxyProcess::WaitReady(absl::Duration timeout) {
  return WaitFor([this] { return HttpGet(admin_url_ + "/ready").status == 200; }, timeout,
                 absl::Milliseconds(50));
}

std::string ProxyProcess::Metrics() { return HttpGet(admin_url_ + "/metrics").body; }

absl::StatusOr<std::unique_ptr<EchoServer>> EchoServer::Start(const std::string& dir,
                                                              const std::string& name,
                                                              const std::string& mode) {
  auto server = std::unique_ptr<EchoServer>(new EchoServer());
  const std::string port_file = absl::StrCat(dir, "/", name, ".port");
  server->record_path_ = absl::StrCat(dir, "/", name, ".record");
  auto process =
      Process::Start({kEchoServerBinary, "--listen=127.0.0.1:0", "--port_file=" + port_file,
                      "--record=" + server->record_path_, "--mode=" + mode, "--name=" + name},
                     absl::StrCat(dir, "/", name, ".log"));
  if (!process.ok()) return process.status();
  server->process_ = *std::move(process);
  uint32_t port = 0;
  WaitFor(
      [&] {
        return absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFileOrEmpty(port_file)), &port);
      },
      absl::Seconds(10));
  if (port == 0) {
    return absl::UnavailableError(absl::StrCat("echo server ", name, " did not start",
                                               ExitForCaller(*server->process_), ":\n",
                                               server->process_->Output()));
  }
  server->port_ = static_cast<uint16_t>(port);
  return server;
}

std::vector<std::string> EchoServer::Records() const {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(ReadFileOrEmpty(record_path_), '\n')) {
    if (!line.empty()) lines.emplace_back(line);
  }
  return lines;
}

namespace {

// Parses `name{a="b",c="d"} value` into labels and value.
bool ParseSample(absl::string_view line, const std::string& name,
                 std::map<std::string, std::string>* labels, double* value) {
  if (!absl::ConsumePrefix(&line, name)) return false;
  labels->clear();
  if (absl::ConsumePrefix(&line, "{")) {
    const size_t close = line.find("} ");
    if (close == absl::string_view::npos) return false;
    absl::string_view body = line.substr(0, close);
    line.remove_prefix(close + 1);
    while (!body.empty()) {
      const size_t eq = body.find("=\"");
      if (eq == absl::string_view::npos) return false;
      const std::string key(body.substr(0, eq));
      body.remove_prefix(eq + 2);
      std::string val;
      size_t i = 0;
      for (; i < body.size() && body[i] != '"'; ++i) {
        if (body[i] == '\\' && i + 1 < body.size()) ++i;
        val.push_back(body[i]);
      }
      (*labels)[key] = val;
      body.remove_prefix(std::min(body.size(), i + 1));
      absl::ConsumePrefix(&body, ",");
    }
  } else if (!absl::ConsumePrefix(&line, " ")) {
    return false;  // a longer metric name that starts with `name`
  }
  return absl::SimpleAtod(absl::StripAsciiWhitespace(line), value);
}

bool Matches(const std::map<std::string, std::string>& have,
             const std::map<std::string, std::string>& want) {
  for (const auto& [k, v] : want) {
    auto it = have.find(k);
    if (it == have.end() || it->second != v) return false;
  }
  return true;
}

}  // namespace

std::optional<double> MetricValue(const std::string& text, const std::string& name,
                                  const std::map<std::string, std::string>& labels) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    std::map<std::string, std::string> have;
    double value;
    if (ParseSample(line, name, &have, &value) && Matches(have, labels)) return value;
  }
  return std::nullopt;
}

double MetricSum(const std::string& text, const std::string& name,
                 const std::map<std::string, std::string>& labels) {
  double sum = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    std::map<std::string, std::string> have;
    double value;
    if (ParseSample(line, name, &have, &value) && Matches(have, labels)) sum += value;
  }
  return sum;
}

std::string ControlPlaneProxyYaml(const ControlPlaneIdentity& identity) {
  return absl::StrCat(
      "identity:\n  spiffe_id: \"", identity.spiffe_id,
      "\"\n  control_plane:\n    address: ", identity.control_address, "\n    server_spiffe_id: \"",
      identity.server_spiffe_id, "\"\n    bootstrap_bundle_file: ", identity.bootstrap_bundle_file,
      "\n    join_token_file: ", identity.join_token_file,
      identity.instance_name.empty() ? "" : "\n    instance_name: ", identity.instance_name,
      "\n    initial_backoff: ", identity.initial_backoff,
      "\n    max_backoff: ", identity.max_backoff,
      "\nadmin:\n  address: 127.0.0.1:0\nruntime:\n  workers: 2\n  drain_timeout: 2s\n"
      "logging:\n  level: ",
      identity.log_level, "\n  format: ", identity.log_format, "\n");
}

}  // namespace palisade::testing
