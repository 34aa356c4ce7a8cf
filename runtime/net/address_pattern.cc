#include "runtime/net/address_pattern.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace palisade::net {
namespace {

absl::Status Bad(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("\"", text, "\": ", why));
}

}  // namespace

absl::StatusOr<AddressPattern> AddressPattern::Parse(absl::string_view text) {
  AddressPattern pattern;
  pattern.text_ = std::string(text);
  absl::string_view host = text;
  absl::string_view port;
  bool has_port = false;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == absl::string_view::npos) return Bad(text, "missing ']'");
    host = text.substr(1, close - 1);
    absl::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return Bad(text, "expected ':port' after ']'");
      port = rest.substr(1);
      has_port = true;
    }
  } else {
    const size_t colon = text.find(':');
    if (colon != absl::string_view::npos) {
      if (text.find(':', colon + 1) != absl::string_view::npos) {
        return Bad(text, "write an IPv6 address in brackets, e.g. [fd00::1]:8080");
      }
      host = text.substr(0, colon);
      port = text.substr(colon + 1);
      has_port = true;
    }
  }
  if (has_port) {
    uint32_t p;
    if (!absl::SimpleAtoi(port, &p) || p == 0 || p > 65535) {
      return Bad(text, "port must be a number from 1 to 65535");
    }
    pattern.port_ = static_cast<int>(p);
  }
  absl::string_view ip = host;
  int bits = -1;
  if (const size_t slash = host.find('/'); slash != absl::string_view::npos) {
    ip = host.substr(0, slash);
    if (!absl::SimpleAtoi(host.substr(slash + 1), &bits)) return Bad(text, "bad prefix length");
  }
  const std::string ip_text(ip);
  if (inet_pton(AF_INET, ip_text.c_str(), pattern.network_.data()) == 1) {
    pattern.family_ = AF_INET;
    if (bits < 0) bits = 32;
    if (bits > 32) return Bad(text, "an IPv4 prefix length is at most 32");
  } else if (inet_pton(AF_INET6, ip_text.c_str(), pattern.network_.data()) == 1) {
    pattern.family_ = AF_INET6;
    if (bits < 0) bits = 128;
    if (bits > 128) return Bad(text, "an IPv6 prefix length is at most 128");
  } else {
    return Bad(text, absl::StrCat("\"", ip_text, "\" is not an IP address"));
  }
  pattern.prefix_bits_ = bits;
  return pattern;
}

bool AddressPattern::Matches(const SocketAddress& address) const {
  if (address.family() != family_) return false;
  if (port_ >= 0 && address.port() != port_) return false;
  const uint8_t* bytes;
  if (family_ == AF_INET) {
    bytes = reinterpret_cast<const uint8_t*>(
        &reinterpret_cast<const sockaddr_in*>(address.sockaddr_ptr())->sin_addr);
  } else {
    bytes = reinterpret_cast<const sockaddr_in6*>(address.sockaddr_ptr())->sin6_addr.s6_addr;
  }
  int bits = prefix_bits_;
  for (int i = 0; bits > 0; ++i, bits -= 8) {
    const uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((bytes[i] & mask) != (network_[i] & mask)) return false;
  }
  return true;
}

}  // namespace palisade::net
