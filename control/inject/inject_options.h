// What the sidecar injector adds to a pod: images, the proxy's user and
// ports, the ConfigMaps and token it reads, its resources. One value shared by
// the CLI (`palisade-inject`, later `palisade-control inject`) and the
// admission webhook, so both make the same pod.
#ifndef PALISADE_CONTROL_INJECT_INJECT_OPTIONS_H_
#define PALISADE_CONTROL_INJECT_INJECT_OPTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace palisade::inject {

struct InjectOptions {
  // The image with palisade-proxy and the capture script (deploy/docker/Dockerfile.proxy).
  std::string proxy_image = "palisade/proxy:0.1.0";
  std::string image_pull_policy = "IfNotPresent";
  // Namespace-local ConfigMaps: the proxy's configuration (key proxy.yaml,
  // deploy/kubernetes/proxy.yaml) and the roots that authenticate
  // palisade-control at first contact (key root-bundle.pem).
  std::string proxy_config_map = "palisade-proxy";
  std::string bundle_config_map = "palisade-root-bundle";
  // The projected service-account token that bootstraps the first SVID.
  // Kubernetes refuses an expiry under 600 s; the kubelet refreshes it.
  std::string token_audience = "palisade";
  int64_t token_expiration_seconds = 600;
  // The proxy runs as this uid; the capture rules let its own traffic by.
  int64_t proxy_uid = 1337;
  // Must match the listeners in the proxy's configuration.
  int inbound_port = 15006;
  int outbound_port = 15001;
  // admin.public_address's port: /healthz, /ready, /metrics for the kubelet
  // and Prometheus; never captured.
  int health_port = 15020;
  bool capture_ipv6 = true;
  // Added to every pod's capture exclusions (a pod adds its own with the
  // palisade.dev/exclude-* annotations). TCP DNS (53) goes to kube-dns, which
  // has no proxy.
  std::vector<int> exclude_inbound_ports;
  std::vector<int> exclude_outbound_ports = {53};
  std::vector<std::string> exclude_outbound_cidrs;
  // The proxy container's resources; an empty string leaves that one unset.
  std::string proxy_cpu_request = "100m";
  std::string proxy_memory_request = "64Mi";
  std::string proxy_cpu_limit = "1";
  std::string proxy_memory_limit = "256Mi";
};

// InvalidArgument naming the first option that cannot make a valid pod.
absl::Status ValidateInjectOptions(const InjectOptions& options);

// "15020,8081" -> {15020, 8081}; empty -> {}. Spaces around items are allowed.
absl::StatusOr<std::vector<int>> ParsePortList(absl::string_view text);
// "10.0.0.0/8,fd00::/8" -> the CIDRs; only the characters a CIDR has.
absl::StatusOr<std::vector<std::string>> ParseCidrList(absl::string_view text);

// Annotations and labels the injector reads and writes.
inline constexpr char kInjectKey[] = "palisade.dev/inject";  // "false": leave this pod alone
inline constexpr char kInjectedAnnotation[] = "palisade.dev/injected";
inline constexpr char kExcludeInboundPortsAnnotation[] = "palisade.dev/exclude-inbound-ports";
inline constexpr char kExcludeOutboundPortsAnnotation[] = "palisade.dev/exclude-outbound-ports";
inline constexpr char kExcludeOutboundCidrsAnnotation[] = "palisade.dev/exclude-outbound-cidrs";

// Names of what the injector adds to a pod.
inline constexpr char kProxyContainerName[] = "palisade-proxy";
inline constexpr char kInitContainerName[] = "palisade-init";
inline constexpr char kVolumeName[] = "palisade-identity";
inline constexpr char kMountPath[] = "/etc/palisade";
inline constexpr char kCaptureScript[] = "/usr/local/bin/palisade-iptables.sh";

}  // namespace palisade::inject

#endif  // PALISADE_CONTROL_INJECT_INJECT_OPTIONS_H_
