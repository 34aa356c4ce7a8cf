#include "tests/util/proxy_process.h"

#include <cstdio>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "tests/util/prometheus_text.h"

namespace palisade::testing {

absl::StatusOr<std::unique_ptr<ProxyProcess>> ProxyProcess::Start(const std::string& dir,
                                                                  const std::string& name,
                                                                  const std::string& config_yaml,
                                                                  const SpawnOptions& spawn) {
  auto proxy = std::unique_ptr<ProxyProcess>(new ProxyProcess());
  proxy->config_path_ = absl::StrCat(dir, "/", name, ".yaml");
  const std::string address_file = absl::StrCat(dir, "/", name, ".admin");
  if (!WriteFile(proxy->config_path_, config_yaml)) {
    return absl::InternalError("cannot write " + proxy->config_path_);
  }
  std::remove(address_file.c_str());  // a previous proxy's address is not ours
  auto process = Process::Start(
      {kProxyBinary, "--config=" + proxy->config_path_, "--admin_address_file=" + address_file},
      absl::StrCat(dir, "/", name, ".log"), spawn);
  if (!process.ok()) return process.status();
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
  if (!list.is_array()) return absl::UnavailableError("GET /listeners: not a JSON list");
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

nlohmann::json ProxyProcess::Certs() {
  return nlohmann::json::parse(HttpGet(admin_url_ + "/certs").body, nullptr, false);
}

bool ProxyProcess::WaitForMetricSum(const std::string& name,
                                    const std::map<std::string, std::string>& labels,
                                    double at_least, absl::Duration timeout) {
  return WaitFor([&] { return MetricSum(Metrics(), name, labels) >= at_least; }, timeout,
                 absl::Milliseconds(50));
}

bool ProxyProcess::WaitForLog(const std::string& text, absl::Duration timeout) {
  return WaitFor([&] { return process_->Output().find(text) != std::string::npos; }, timeout);
}

}  // namespace palisade::testing
