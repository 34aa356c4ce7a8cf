#include "runtime/net/socket_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "runtime/status/status_macros.h"

namespace palisade::net {
namespace {

constexpr size_t kMaxDnsNameLength = 253;
constexpr size_t kMaxDnsLabelLength = 63;

std::string Quote(absl::string_view text) {
  return absl::StrCat("\"", absl::CHexEscape(text), "\"");
}

// Splits "host:port" or "[v6]:port" into a host (brackets removed) and port text.
absl::Status Split(absl::string_view text, absl::string_view* host, absl::string_view* port,
                   bool* bracketed) {
  if (text.empty()) return absl::InvalidArgumentError("is empty");
  if (text.find("://") != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(text), ": write host:port, without a URL scheme"));
  }
  *bracketed = text.front() == '[';
  size_t colon;
  if (*bracketed) {
    const size_t close = text.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(Quote(text), " has no closing ']'"));
    }
    *host = text.substr(1, close - 1);
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat(Quote(text), " has no port; write e.g. \"[", *host, "]:8080\""));
    }
    colon = close + 1;
  } else {
    colon = text.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(Quote(text), " has no port; write e.g. \"", text, ":8080\""));
    }
    *host = text.substr(0, colon);
    if (host->find(':') != absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(Quote(text), ": put an IPv6 address in brackets, e.g. \"[::1]:8080\""));
    }
  }
  *port = text.substr(colon + 1);
  if (host->empty()) {
    return absl::InvalidArgumentError(absl::StrCat(Quote(text), " has no host before the port"));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint16_t> ParsePort(absl::string_view text, absl::string_view port) {
  uint32_t value = 0;
  const bool digits_only =
      !port.empty() && std::all_of(port.begin(), port.end(), absl::ascii_isdigit);
  if (!digits_only || port.size() > 5 || !absl::SimpleAtoi(port, &value) || value > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(text), ": port ", Quote(port), " is not a number from 0 to 65535"));
  }
  return static_cast<uint16_t>(value);
}

bool IsDnsName(absl::string_view host) {
  if (host.size() > kMaxDnsNameLength) return false;
  if (host.back() == '.') host.remove_suffix(1);  // fully qualified
  size_t start = 0;
  while (start <= host.size()) {
    size_t end = host.find('.', start);
    if (end == absl::string_view::npos) end = host.size();
    const absl::string_view label = host.substr(start, end - start);
    if (label.empty() || label.size() > kMaxDnsLabelLength) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      // '_' is not in host names proper, but service records and some
      // platforms use it; resolvers pass it through.
      if (!absl::ascii_isalnum(c) && c != '-' && c != '_') return false;
    }
    start = end + 1;
  }
  return true;
}

bool LooksNumeric(absl::string_view host) {
  return std::all_of(host.begin(), host.end(),
                     [](char c) { return absl::ascii_isdigit(c) || c == '.'; });
}

}  // namespace

absl::StatusOr<SocketAddress> SocketAddress::Parse(absl::string_view text) {
  absl::string_view host_text, port_text;
  bool bracketed;
  RETURN_IF_ERROR(Split(text, &host_text, &port_text, &bracketed));
  ASSIGN_OR_RETURN(uint16_t port, ParsePort(text, port_text));
  const std::string host(host_text);
  SocketAddress address;
  if (!bracketed) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&address.storage_);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          Quote(text), ": ", Quote(host),
          " is not an IP address (write a dotted IPv4 address such as 127.0.0.1, or an IPv6 "
          "address in brackets; host names are not allowed here)"));
    }
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    address.length_ = sizeof(sockaddr_in);
    return address;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&address.storage_);
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(text), ": ", Quote(host), " is not an IPv6 address"));
  }
  v6->sin6_family = AF_INET6;
  v6->sin6_port = htons(port);
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
  absl::string_view host, port_text;
  bool bracketed;
  RETURN_IF_ERROR(Split(text, &host, &port_text, &bracketed));
  const std::string host_string(host);
  uint8_t scratch[16];
  if (bracketed) {
    if (inet_pton(AF_INET6, host_string.c_str(), scratch) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(Quote(text), ": ", Quote(host), " is not an IPv6 address"));
    }
  } else if (LooksNumeric(host)) {
    if (inet_pton(AF_INET, host_string.c_str(), scratch) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(Quote(text), ": ", Quote(host), " is not an IPv4 address"));
    }
  } else if (!IsDnsName(host)) {
    return absl::InvalidArgumentError(absl::StrCat(
        Quote(text), ": ", Quote(host),
        " is not a host name (letters, digits, '-' and '_' in dot-separated labels of 1 to 63 "
        "characters) or an IP address"));
  }
  ASSIGN_OR_RETURN(uint16_t port, ParsePort(text, port_text));
  if (port == 0) {
    return absl::InvalidArgumentError(absl::StrCat(Quote(text), ": port 0 cannot be connected to"));
  }
  return HostPort{host_string, port};
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
