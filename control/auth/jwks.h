// A JSON Web Key Set (RFC 7517) of signature-verification keys, as the
// Kubernetes API server publishes for its service-account tokens: RSA keys
// (kty RSA, n/e) and EC P-256 keys (kty EC, crv P-256, x/y), found by kid.
#ifndef PALISADE_CONTROL_AUTH_JWKS_H_
#define PALISADE_CONTROL_AUTH_JWKS_H_

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace palisade::control::auth {

enum class JwkAlgorithm { kRs256, kEs256 };

struct Jwk {
  std::string kid;  // may be empty
  JwkAlgorithm algorithm;
  bssl::UniquePtr<EVP_PKEY> key;
};

// Immutable after Parse; thread-safe.
class Jwks {
 public:
  // InvalidArgument naming the key index and rule. Keys whose "use" is not
  // "sig" are skipped; an unsupported kty/crv or a malformed key is an error,
  // so a broken file is noticed at start rather than at the first token.
  static absl::StatusOr<std::shared_ptr<const Jwks>> Parse(absl::string_view json);

  // The keys usable for `algorithm` with `kid` (every such key when `kid` is
  // empty).
  std::vector<const Jwk*> Find(JwkAlgorithm algorithm, absl::string_view kid) const;
  size_t size() const { return keys_.size(); }

 private:
  std::vector<Jwk> keys_;
};

}  // namespace palisade::control::auth

#endif  // PALISADE_CONTROL_AUTH_JWKS_H_
