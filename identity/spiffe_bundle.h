// The SPIFFE bundle format (SPIFFE Trust Domain and Bundle specification, section
// 4): a JWK Set whose "x509-svid" keys each carry one X.509 authority in "x5c",
// plus "spiffe_sequence" and "spiffe_refresh_hint". Parsing is strict and names the
// rule and the key index that fail; serializing is deterministic. Stateless and
// thread-safe. JWT authorities ("jwt-svid" keys) are accepted and dropped: the
// project verifies X.509-SVIDs only.
#ifndef PALISADE_IDENTITY_SPIFFE_BUNDLE_H_
#define PALISADE_IDENTITY_SPIFFE_BUNDLE_H_

#include <openssl/x509.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace palisade {
namespace identity {

// Largest document ParseSpiffeBundle reads; a bundle endpoint is reachable by other
// organisations, so its answer is bounded before it is parsed.
inline constexpr size_t kMaxSpiffeBundleSize = 1 << 20;  // 1 MiB
// Largest spiffe_refresh_hint accepted (a week): beyond it a peer's root rotation
// would go unnoticed for longer than any sane rollover overlap.
inline constexpr absl::Duration kMaxSpiffeRefreshHint = absl::Hours(24 * 7);

struct SpiffeBundle {
  std::string trust_domain;
  // CA certificates (basicConstraints CA:true), without duplicates, in document order.
  std::vector<bssl::UniquePtr<X509>> x509_authorities;
  std::optional<uint64_t> sequence;
  // Whole seconds in [0, kMaxSpiffeRefreshHint].
  std::optional<absl::Duration> refresh_hint;
};

// Parses and validates a SPIFFE bundle document for `trust_domain` (a bare name;
// the document itself does not name its trust domain). InvalidArgument naming the
// rule, and the key index when a key breaks it, e.g.
// "keys[2]: x509-svid key must carry exactly one certificate in x5c". Rules: at most
// kMaxSpiffeBundleSize bytes of well-formed JSON; an object with a "keys" array;
// every key an object with a string "use"; an "x509-svid" key has exactly one
// standard-base64 DER certificate in "x5c" that is a CA, "kty" ("EC" or "RSA")
// and the public-key parameters ("crv", "x", "y" or "n", "e") of that
// certificate's key; other "use" values are ignored; the same certificate twice
// is kept once; at least one X.509 authority; "spiffe_sequence" an unsigned
// integer and "spiffe_refresh_hint" an integer number of seconds within
// [0, kMaxSpiffeRefreshHint] when present.
absl::StatusOr<SpiffeBundle> ParseSpiffeBundle(std::string_view json,
                                               std::string_view trust_domain);

// The document for `bundle`: one "x509-svid" key per authority, in order, with
// "kty", the public-key parameters and "x5c"; spiffe_sequence and
// spiffe_refresh_hint (whole seconds, rounded down) when set. Deterministic: the
// same bundle gives the same bytes. An authority whose key is neither EC nor RSA
// is written with "kty" and "x5c" only (ParseSpiffeBundle refuses it).
std::string SerializeSpiffeBundle(const SpiffeBundle& bundle);

}  // namespace identity
}  // namespace palisade

#endif  // PALISADE_IDENTITY_SPIFFE_BUNDLE_H_
