// Who may connect through a gateway listener, by the identity and subject of
// a verified client certificate (gateway_trust.h): exact identities, DNS
// wildcards of one label ("*.devices.example.com", RFC 6125 style) and
// subject patterns. Deny by default: an empty policy allows nobody.
#ifndef PALISADE_IDENTITY_GATEWAY_POLICY_H_
#define PALISADE_IDENTITY_GATEWAY_POLICY_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "identity/gateway_trust.h"

namespace palisade {
namespace identity {

// The rules of Create for one entry; InvalidArgument says which is broken.
absl::Status ValidateDnsWildcard(absl::string_view wildcard);
absl::Status ValidateSubjectPattern(absl::string_view pattern);

// Immutable after Create; any thread may call Allows.
class GatewayPolicy {
 public:
  // `identities`: exact values (lowercased when identity_from is dns_san,
  //   whose identities are lowercase).
  // `dns_wildcards`: "*." then at least two labels of letters, digits and
  //   '-'; matches exactly one more label, any case.
  // `subjects`: an RFC 4514 subject ("CN=a,O=b", most specific first),
  //   matched exactly, or "*,<RDNs>" matching every subject that ends with
  //   ",<RDNs>" (at an RDN boundary, so "*,O=b" does not match "CN=a,O=xb").
  // InvalidArgument names the list, index and rule:
  //   `dns_wildcards[0] "*.com": a wildcard needs at least two labels after "*."`.
  static absl::StatusOr<GatewayPolicy> Create(IdentityFrom from,
                                              std::vector<std::string> identities,
                                              std::vector<std::string> dns_wildcards,
                                              std::vector<std::string> subjects);
  GatewayPolicy() = default;  // allows nobody

  bool Allows(const VerifiedClient& client) const;
  bool empty() const { return identities_.empty() && wildcards_.empty() && subjects_.empty(); }
  // "sensor-1.example.com, *.devices.example.com, subject *,O=Example": for logs.
  std::string Describe() const;

 private:
  bool dns_ = false;
  absl::flat_hash_set<std::string> identities_;
  std::vector<std::string> wildcards_;  // the suffix after "*", lowercase (".devices.example.com")
  std::vector<std::string> subjects_;   // exact, or "*,..." patterns
};

}  // namespace identity
}  // namespace palisade

#endif  // PALISADE_IDENTITY_GATEWAY_POLICY_H_
