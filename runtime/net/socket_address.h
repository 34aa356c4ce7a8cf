// IPv4/IPv6 socket addresses as written in configs ("127.0.0.1:8080",
// "[::1]:8080") and upstream "host:port" pairs that may need resolving. The
// one parser of both forms: the config validator and the runtime use it, so
// what validates is exactly what runs. Errors are InvalidArgument and say
// what is wrong with the text.
#ifndef PALISADE_RUNTIME_NET_SOCKET_ADDRESS_H_
#define PALISADE_RUNTIME_NET_SOCKET_ADDRESS_H_

#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace palisade::net {

class SocketAddress {
 public:
  // "a.b.c.d:port" or "[v6]:port"; port 0..65535 (0: the kernel picks one
  // when binding; callers that connect refuse it). No host names.
  static absl::StatusOr<SocketAddress> Parse(absl::string_view text);
  static SocketAddress FromSockaddr(const sockaddr* addr, socklen_t len);

  SocketAddress() = default;
  const sockaddr* sockaddr_ptr() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  socklen_t length() const { return length_; }
  int family() const { return storage_.ss_family; }
  uint16_t port() const;
  SocketAddress WithPort(uint16_t port) const;
  // 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104.
  bool IsLoopback() const;
  bool IsUnspecified() const;      // 0.0.0.0 or ::
  std::string ToString() const;    // "127.0.0.1:8080", "[::1]:8080"
  std::string HostString() const;  // "127.0.0.1", "::1"

  // Same family, address and port.
  friend bool operator==(const SocketAddress& a, const SocketAddress& b);
  friend bool operator!=(const SocketAddress& a, const SocketAddress& b) { return !(a == b); }

 private:
  sockaddr_storage storage_{};
  socklen_t length_ = 0;
};

// True for an IPv4 or IPv6 literal (no brackets), false for a DNS name.
bool IsIpLiteral(const std::string& host);

// "host:port" where host is a DNS name, an IPv4 address or a bracketed IPv6
// address (kept without brackets), and port is 1 to 65535.
struct HostPort {
  std::string host;
  uint16_t port = 0;
  static absl::StatusOr<HostPort> Parse(absl::string_view text);
  std::string ToString() const;
};

}  // namespace palisade::net

#endif  // PALISADE_RUNTIME_NET_SOCKET_ADDRESS_H_
