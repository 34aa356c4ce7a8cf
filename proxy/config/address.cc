#include "proxy/config/address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace palisade::config {
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

absl::StatusOr<IpPort> IpPort::Parse(absl::string_view text) {
  absl::string_view host, port_text;
  bool bracketed;
  if (absl::Status s = Split(text, &host, &port_text, &bracketed); !s.ok()) return s;
  IpPort result;
  const std::string host_string(host);
  if (bracketed) {
    if (inet_pton(AF_INET6, host_string.c_str(), result.bytes_.data()) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(Quote(text), ": ", Quote(host), " is not an IPv6 address"));
    }
    result.ipv6_ = true;
  } else if (inet_pton(AF_INET, host_string.c_str(), result.bytes_.data()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        Quote(text), ": ", Quote(host),
        " is not an IP address (write a dotted IPv4 address such as 127.0.0.1, or an IPv6 "
        "address in brackets; host names are not allowed here)"));
  }
  absl::StatusOr<uint16_t> port = ParsePort(text, port_text);
  if (!port.ok()) return port.status();
  result.port_ = *port;
  return result;
}

bool IpPort::IsLoopback() const {
  if (!ipv6_) return bytes_[0] == 127;
  static constexpr uint8_t kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(bytes_.data(), kLoopback, 16) == 0) return true;
  return std::memcmp(bytes_.data(), kMappedPrefix, 12) == 0 && bytes_[12] == 127;
}

bool IpPort::IsWildcard() const {
  const size_t size = ipv6_ ? 16 : 4;
  return std::all_of(bytes_.begin(), bytes_.begin() + size, [](uint8_t b) { return b == 0; });
}

bool IpPort::Overlaps(const IpPort& other) const {
  // IPv6 listeners are bound IPV6_V6ONLY (proxy/net/sockets.cc), so the
  // families never share a port.
  if (port_ == 0 || port_ != other.port_ || ipv6_ != other.ipv6_) return false;
  return bytes_ == other.bytes_ || IsWildcard() || other.IsWildcard();
}

std::string IpPort::ToString() const {
  char buffer[INET6_ADDRSTRLEN];
  inet_ntop(ipv6_ ? AF_INET6 : AF_INET, bytes_.data(), buffer, sizeof(buffer));
  return ipv6_ ? absl::StrCat("[", buffer, "]:", port_) : absl::StrCat(buffer, ":", port_);
}

absl::StatusOr<HostPort> ParseHostPort(absl::string_view text) {
  absl::string_view host, port_text;
  bool bracketed;
  if (absl::Status s = Split(text, &host, &port_text, &bracketed); !s.ok()) return s;
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
  absl::StatusOr<uint16_t> port = ParsePort(text, port_text);
  if (!port.ok()) return port.status();
  if (*port == 0) {
    return absl::InvalidArgumentError(absl::StrCat(Quote(text), ": port 0 cannot be connected to"));
  }
  return HostPort{host_string, *port};
}

}  // namespace palisade::config
