// The address forms the configuration uses: "ip:port" for what the proxy binds
// or connects to directly, and "host:port" (a DNS name allowed) for upstreams
// and the control plane; plus the overlap rule for bound addresses.
#ifndef PALISADE_PROXY_CONFIG_ADDRESS_H_
#define PALISADE_PROXY_CONFIG_ADDRESS_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace palisade::config {

// An IPv4 ("10.0.0.1:80") or bracketed IPv6 ("[::1]:80") address with a port.
// A value type; thread-compatible.
class IpPort {
 public:
  // Port 0 (the kernel picks one) is accepted; callers that connect refuse it.
  // Errors are InvalidArgument and say what is wrong with `text`.
  static absl::StatusOr<IpPort> Parse(absl::string_view text);

  bool is_ipv6() const { return ipv6_; }
  uint16_t port() const { return port_; }
  // 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104.
  bool IsLoopback() const;
  // 0.0.0.0 or ::.
  bool IsWildcard() const;
  // True when binding both would compete for the same port: the same port
  // (not 0) and the same address, or one of them a wildcard that covers the
  // other (:: covers IPv4 too, as Linux binds it dual-stack by default).
  bool Overlaps(const IpPort& other) const;
  // Canonical text: "10.0.0.1:80", "[::1]:80".
  std::string ToString() const;

  // The address in network byte order: 4 or 16 bytes used.
  const std::array<uint8_t, 16>& bytes() const { return bytes_; }

 private:
  IpPort() = default;

  bool ipv6_ = false;
  std::array<uint8_t, 16> bytes_{};
  uint16_t port_ = 0;
};

// "host:port" where host is a DNS name, an IPv4 address or a bracketed IPv6
// address, and port is 1 to 65535. Returns the host as written (without
// brackets); errors are InvalidArgument and say what is wrong with `text`.
struct HostPort {
  std::string host;
  uint16_t port = 0;
};
absl::StatusOr<HostPort> ParseHostPort(absl::string_view text);

}  // namespace palisade::config

#endif  // PALISADE_PROXY_CONFIG_ADDRESS_H_
