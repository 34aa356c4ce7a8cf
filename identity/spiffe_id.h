// SPIFFE IDs (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md):
// parsing and validation that say which rule of the specification an input breaks,
// and the value type the rest of the project passes around.
#ifndef PALISADE_IDENTITY_SPIFFE_ID_H_
#define PALISADE_IDENTITY_SPIFFE_ID_H_

#include <ostream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace palisade {
namespace identity {

// Limits from the SPIFFE ID specification.
inline constexpr size_t kMaxSpiffeIdLength = 2048;    // bytes, whole URI
inline constexpr size_t kMaxTrustDomainLength = 255;  // bytes

// A valid SPIFFE ID: "spiffe://" + trust domain + path, where the path is empty or a
// sequence of "/segment". Immutable; cheap to copy; usable as a hash or map key.
// Thread-compatible (const methods may be called from any thread).
class SpiffeId {
 public:
  // Parses "spiffe://trust.domain/path/segments". On failure the status is
  // InvalidArgument and its message names the rule that failed, e.g.
  // `invalid SPIFFE ID "spiffe://td/a//b": path contains an empty segment`.
  static absl::StatusOr<SpiffeId> Parse(absl::string_view uri);

  // Builds an ID from a trust domain ("example.org") and a path ("" or "/a/b"),
  // with the same validation as Parse.
  static absl::StatusOr<SpiffeId> FromParts(absl::string_view trust_domain, absl::string_view path);

  const std::string& trust_domain() const { return trust_domain_; }
  // "" for the trust domain's own ID ("spiffe://td"), otherwise "/a/b".
  const std::string& path() const { return path_; }
  // "spiffe://td/a/b".
  std::string ToString() const;

  // True when this ID belongs to `trust_domain` (a bare name such as "example.org").
  bool IsMemberOf(absl::string_view trust_domain) const { return trust_domain_ == trust_domain; }

  friend bool operator==(const SpiffeId& a, const SpiffeId& b) {
    return a.trust_domain_ == b.trust_domain_ && a.path_ == b.path_;
  }
  friend bool operator!=(const SpiffeId& a, const SpiffeId& b) { return !(a == b); }
  // Orders by trust domain, then path.
  friend bool operator<(const SpiffeId& a, const SpiffeId& b) {
    return a.trust_domain_ != b.trust_domain_ ? a.trust_domain_ < b.trust_domain_
                                              : a.path_ < b.path_;
  }
  template <typename H>
  friend H AbslHashValue(H h, const SpiffeId& id) {
    return H::combine(std::move(h), id.trust_domain_, id.path_);
  }
  friend std::ostream& operator<<(std::ostream& os, const SpiffeId& id) {
    return os << id.ToString();
  }

 private:
  SpiffeId(std::string trust_domain, std::string path)
      : trust_domain_(std::move(trust_domain)), path_(std::move(path)) {}

  std::string trust_domain_;
  std::string path_;
};

// OK when `trust_domain` ("example.org", without scheme) is a valid SPIFFE trust
// domain name; otherwise InvalidArgument naming the rule that failed.
// The SPIFFE ID of a Kubernetes service account, from a token's "sub"
// claim: system:serviceaccount:NS:SA -> spiffe://<trust_domain>/ns/NS/sa/SA.
// The control plane issues it and the proxy asks for it, so both use this.
absl::StatusOr<SpiffeId> SpiffeIdForServiceAccount(absl::string_view trust_domain,
                                                   absl::string_view subject);

absl::Status ValidateTrustDomain(absl::string_view trust_domain);

// OK when `path` is a valid SPIFFE ID path ("" or "/seg/seg"); otherwise
// InvalidArgument naming the rule that failed.
absl::Status ValidateSpiffePath(absl::string_view path);

// OK when `id` may name a workload, i.e. has a path: X509-SVID section 3 gives no
// leaf the trust domain's own ID. Otherwise InvalidArgument
// ("SPIFFE ID spiffe://td has no path (X509-SVID section 3: ...)").
absl::Status ValidateWorkloadId(const SpiffeId& id);

}  // namespace identity
}  // namespace palisade

#endif  // PALISADE_IDENTITY_SPIFFE_ID_H_
