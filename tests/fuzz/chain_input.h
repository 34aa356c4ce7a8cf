// The input format of the chain-verification fuzzer, shared with the seed corpus
// generator: one flags byte, then up to kMaxCertificates entries of a 2-byte
// big-endian length and that many DER bytes. The first entry is the trust anchor
// (added to the bundle of the leaf's trust domain), the rest is the peer chain,
// leaf first. A truncated entry ends the list.
#ifndef PALISADE_TESTS_FUZZ_CHAIN_INPUT_H_
#define PALISADE_TESTS_FUZZ_CHAIN_INPUT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace palisade {
namespace fuzz {

inline constexpr size_t kMaxCertificates = 8;

// flags bits 0-1: peer role (0 any, 1 client, 2 server); bit 2: 5 minutes of skew.
struct ChainInput {
  uint8_t flags = 0;
  std::vector<absl::string_view> certificates;  // views into the decoded buffer
};

inline ChainInput DecodeChainInput(absl::string_view data) {
  ChainInput input;
  if (data.empty()) return input;
  input.flags = static_cast<uint8_t>(data[0]);
  data.remove_prefix(1);
  while (data.size() >= 2 && input.certificates.size() < kMaxCertificates) {
    const size_t len = (static_cast<uint8_t>(data[0]) << 8) | static_cast<uint8_t>(data[1]);
    data.remove_prefix(2);
    if (len > data.size()) break;
    input.certificates.push_back(data.substr(0, len));
    data.remove_prefix(len);
  }
  return input;
}

inline std::string EncodeChainInput(uint8_t flags, const std::vector<std::string>& ders) {
  std::string out(1, static_cast<char>(flags));
  for (const std::string& der : ders) {
    out.push_back(static_cast<char>((der.size() >> 8) & 0xff));
    out.push_back(static_cast<char>(der.size() & 0xff));
    out += der;
  }
  return out;
}

}  // namespace fuzz
}  // namespace palisade

#endif  // PALISADE_TESTS_FUZZ_CHAIN_INPUT_H_
