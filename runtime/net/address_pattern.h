// Patterns over socket addresses, for choosing a captured connection's
// expected peer by where it was going: "10.0.0.7", "10.0.0.7:8080",
// "10.0.0.0/24", "10.0.0.0/24:8080", "[fd00::7]:8080", "[fd00::/64]".
#ifndef PALISADE_RUNTIME_NET_ADDRESS_PATTERN_H_
#define PALISADE_RUNTIME_NET_ADDRESS_PATTERN_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runtime/net/socket_address.h"

namespace palisade::net {

class AddressPattern {
 public:
  // Errors say what part is wrong.
  static absl::StatusOr<AddressPattern> Parse(absl::string_view text);

  bool Matches(const SocketAddress& address) const;
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  int family_ = 0;
  std::array<uint8_t, 16> network_{};
  int prefix_bits_ = 0;
  int port_ = -1;  // -1: any port
};

}  // namespace palisade::net

#endif  // PALISADE_RUNTIME_NET_ADDRESS_PATTERN_H_
