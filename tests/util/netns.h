// Test hosts in network namespaces: "pods" joined by veth pairs to a bridge
// that lives in a namespace of its own, so nothing touches the host's network.
// Made and torn down by the test; names carry the test's PID.
#ifndef PALISADE_TESTS_UTIL_NETNS_H_
#define PALISADE_TESTS_UTIL_NETNS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "tests/util/process.h"

namespace palisade::testing {

class PodNetwork {
 public:
  // Subnets: 10.<octet>.0.0/24 and fd<octet>::/64; pod i gets .i+1 / ::i+1.
  explicit PodNetwork(int subnet_octet = 77);
  ~PodNetwork();  // deletes every namespace it made
  PodNetwork(const PodNetwork&) = delete;
  PodNetwork& operator=(const PodNetwork&) = delete;

  // Adds a pod; returns an error naming the failed `ip` command.
  absl::Status AddPod(const std::string& name);
  std::string Namespace(const std::string& pod) const;
  std::string Ipv4(const std::string& pod) const;
  std::string Ipv6(const std::string& pod) const;
  // argv prefixed with `ip netns exec <pod's namespace>`.
  std::vector<std::string> In(const std::string& pod, std::vector<std::string> argv) const;
  // curl run inside `pod`: the HTTP status (0 when unreachable) and body.
  HttpResult Curl(const std::string& pod, const std::string& url) const;

 private:
  absl::Status Ip(const std::vector<std::string>& args);
  int Index(const std::string& pod) const;

  const int octet_;
  const std::string suffix_;
  std::string switch_ns_;
  std::vector<std::string> pods_;
  std::vector<std::string> namespaces_;
};

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_UTIL_NETNS_H_
