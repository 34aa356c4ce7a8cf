#include "tests/util/netns.h"

#include <unistd.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/util/subprocess.h"

namespace palisade::testing {

PodNetwork::PodNetwork(int subnet_octet)
    : octet_(subnet_octet), suffix_(absl::StrCat(getpid() % 100000)) {
  switch_ns_ = absl::StrCat("pal-sw-", suffix_);
  if (Ip({"netns", "add", switch_ns_}).ok()) {
    namespaces_.push_back(switch_ns_);
    (void)Ip({"-n", switch_ns_, "link", "add", "br0", "type", "bridge"});
    (void)Ip({"-n", switch_ns_, "link", "set", "br0", "up"});
  }
}

PodNetwork::~PodNetwork() {
  for (auto it = namespaces_.rbegin(); it != namespaces_.rend(); ++it) {
    (void)Ip({"netns", "del", *it});
  }
}

absl::Status PodNetwork::Ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult r = RunCommand(argv, absl::Seconds(10));
  if (r.exit_code != 0) {
    return absl::InternalError(absl::StrCat(r.command, ": ", r.output));
  }
  return absl::OkStatus();
}

absl::Status PodNetwork::AddPod(const std::string& name) {
  const int i = static_cast<int>(pods_.size());
  const std::string ns = absl::StrCat("pal-", name, "-", suffix_);
  const std::string inside = absl::StrCat("eth-", name);
  const std::string outside = absl::StrCat("v", suffix_, "-", i);
  for (const std::vector<std::string>& step : std::vector<std::vector<std::string>>{
           {"netns", "add", ns},
           {"-n", switch_ns_, "link", "add", outside, "type", "veth", "peer", "name", inside,
            "netns", ns},
           {"-n", switch_ns_, "link", "set", outside, "master", "br0", "up"},
           {"-n", ns, "link", "set", "lo", "up"},
           {"-n", ns, "addr", "add", absl::StrCat("10.", octet_, ".0.", i + 1, "/24"), "dev",
            inside},
           {"-n", ns, "addr", "add", absl::StrCat("fd", octet_, "::", i + 1, "/64"), "dev", inside,
            "nodad"},
           {"-n", ns, "link", "set", inside, "up"},
       }) {
    if (absl::Status s = Ip(step); !s.ok()) return s;
    if (step[0] == "netns") namespaces_.push_back(ns);
  }
  pods_.push_back(name);
  return absl::OkStatus();
}

int PodNetwork::Index(const std::string& pod) const {
  for (size_t i = 0; i < pods_.size(); ++i) {
    if (pods_[i] == pod) return static_cast<int>(i);
  }
  return -1;
}

std::string PodNetwork::Namespace(const std::string& pod) const {
  return absl::StrCat("pal-", pod, "-", suffix_);
}

std::string PodNetwork::Ipv4(const std::string& pod) const {
  return absl::StrCat("10.", octet_, ".0.", Index(pod) + 1);
}

std::string PodNetwork::Ipv6(const std::string& pod) const {
  return absl::StrCat("fd", octet_, "::", Index(pod) + 1);
}

std::vector<std::string> PodNetwork::In(const std::string& pod,
                                        std::vector<std::string> argv) const {
  std::vector<std::string> full = {"ip", "netns", "exec", Namespace(pod)};
  full.insert(full.end(), argv.begin(), argv.end());
  return full;
}

HttpResult PodNetwork::Curl(const std::string& pod, const std::string& url) const {
  const CommandResult r = RunCommand(
      In(pod, {"curl", "-s", "-g", "-m", "5", "-w", "\n%{http_code}", url}), absl::Seconds(10));
  HttpResult result;
  const size_t nl = r.output.rfind('\n');
  if (nl != std::string::npos) {
    result.status = atoi(r.output.c_str() + nl + 1);
    result.body = r.output.substr(0, nl);
  }
  return result;
}

}  // namespace palisade::testing
