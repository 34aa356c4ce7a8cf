#include "proxy/net/socket_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace palisade::net {
namespace {

absl::StatusOr<uint16_t> ParsePort(absl::string_view text, absl::string_view whole) {
  uint32_t port;
  if (text.empty() || !absl::SimpleAtoi(text, &port) || port > 65535 ||
      text.find_first_not_of("0123456789") != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", whole, "\": port must be a number from 0 to 65535"));
  }
  return static_cast<uint16_t>(port);
}

// Splits "host:port" / "[v6]:port" into its parts; host keeps no brackets.
absl::Status Split(absl::string_view text, std::string* host, absl::string_view* port,
                   bool* bracketed) {
  *bracketed = !text.empty() && text.front() == '[';
  if (*bracketed) {
    const size_t close = text.find(']');
    if (close == absl::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", text, "\": write an IPv6 address as [address]:port"));
    }
    *host = std::string(text.substr(1, close - 1));
    *port = text.substr(close + 2);
    return absl::OkStatus();
  }
  const size_t colon = text.rfind(':');
  if (colon == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\": expected host:port"));
  }
  if (text.find(':') != colon) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\": write an IPv6 address as [address]:port"));
  }
  *host = std::string(text.substr(0, colon));
  *port = text.substr(colon + 1);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SocketAddress> SocketAddress::Parse(absl::string_view text) {
  std::string host;
  absl::string_view port_text;
  bool bracketed;
  if (absl::Status s = Split(text, &host, &port_text, &bracketed); !s.ok()) return s;
  absl::StatusOr<uint16_t> port = ParsePort(port_text, text);
  if (!port.ok()) return port.status();
  SocketAddress address;
  if (!bracketed) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&address.storage_);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons(*port);
      address.length_ = sizeof(sockaddr_in);
      return address;
    }
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\": \"", host, "\" is not an IPv4 address"));
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&address.storage_);
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\": \"", host, "\" is not an IPv6 address"));
  }
  v6->sin6_family = AF_INET6;
  v6->sin6_port = htons(*port);
  address.length_ = sizeof(sockaddr_in6);
  return address;
}

SocketAddress SocketAddress::FromSockaddr(const sockaddr* addr, socklen_t len) {
  SocketAddress address;
  const socklen_t n = std::min<socklen_t>(len, sizeof(address.storage_));
  std::memcpy(&address.storage_, addr, n);
  address.length_ = n;
  return address;
}

uint16_t SocketAddress::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  if (family() == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  }
  return 0;
}

SocketAddress SocketAddress::WithPort(uint16_t port) const {
  SocketAddress copy = *this;
  if (family() == AF_INET) reinterpret_cast<sockaddr_in*>(&copy.storage_)->sin_port = htons(port);
  if (family() == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&copy.storage_)->sin6_port = htons(port);
  }
  return copy;
}

bool SocketAddress::IsLoopback() const {
  if (family() == AF_INET) {
    const uint32_t ip = ntohl(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr.s_addr);
    return (ip >> 24) == 127;
  }
  if (family() == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(&a)) return true;
    if (IN6_IS_ADDR_V4MAPPED(&a)) return a.s6_addr[12] == 127;
  }
  return false;
}

bool SocketAddress::IsUnspecified() const {
  if (family() == AF_INET) {
    return reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr.s_addr == INADDR_ANY;
  }
  if (family() == AF_INET6) {
    return IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr);
  }
  return false;
}

std::string SocketAddress::HostString() const {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf,
              sizeof(buf));
  } else if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf,
              sizeof(buf));
  }
  return buf;
}

std::string SocketAddress::ToString() const {
  if (family() == AF_INET6) return absl::StrCat("[", HostString(), "]:", port());
  return absl::StrCat(HostString(), ":", port());
}

absl::StatusOr<HostPort> HostPort::Parse(absl::string_view text) {
  HostPort result;
  absl::string_view port_text;
  bool bracketed;
  if (absl::Status s = Split(text, &result.host, &port_text, &bracketed); !s.ok()) return s;
  if (result.host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\": host is empty"));
  }
  absl::StatusOr<uint16_t> port = ParsePort(port_text, text);
  if (!port.ok()) return port.status();
  if (*port == 0) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\": port 0 cannot be dialled"));
  }
  result.port = *port;
  return result;
}

bool operator==(const SocketAddress& a, const SocketAddress& b) {
  if (a.family() != b.family() || a.port() != b.port()) return false;
  if (a.family() == AF_INET) {
    return reinterpret_cast<const sockaddr_in*>(&a.storage_)->sin_addr.s_addr ==
           reinterpret_cast<const sockaddr_in*>(&b.storage_)->sin_addr.s_addr;
  }
  if (a.family() == AF_INET6) {
    return std::memcmp(&reinterpret_cast<const sockaddr_in6*>(&a.storage_)->sin6_addr,
                       &reinterpret_cast<const sockaddr_in6*>(&b.storage_)->sin6_addr,
                       sizeof(in6_addr)) == 0;
  }
  return a.length_ == b.length_ && std::memcmp(&a.storage_, &b.storage_, a.length_) == 0;
}

bool IsIpLiteral(const std::string& host) {
  in_addr v4;
  in6_addr v6;
  return inet_pton(AF_INET, host.c_str(), &v4) == 1 || inet_pton(AF_INET6, host.c_str(), &v6) == 1;
}

std::string HostPort::ToString() const {
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

}  // namespace palisade::net
