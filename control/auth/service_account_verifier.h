// Kubernetes projected service-account tokens (JWT, RS256 or ES256) verified
// against a JWKS: signature, iss, aud, exp, nbf, and the subject
// system:serviceaccount:NS:SA mapped to spiffe://TD/ns/NS/sa/SA.
#ifndef PALISADE_CONTROL_AUTH_SERVICE_ACCOUNT_VERIFIER_H_
#define PALISADE_CONTROL_AUTH_SERVICE_ACCOUNT_VERIFIER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "control/auth/jwks.h"
#include "identity/spiffe_id.h"
#include "runtime/sync/mutex.h"

namespace palisade::control::auth {

// Largest token looked at; projected tokens are about 1 KiB.
inline constexpr size_t kMaxTokenSize = 16 * 1024;

// Thread-safe. The key set can be replaced while tokens are verified (the
// API server's signing keys rotate); each Verify uses one set throughout.
class ServiceAccountVerifier {
 public:
  struct Options {
    std::string trust_domain;
    std::string issuer;    // required "iss"
    std::string audience;  // must be in "aud"
    absl::Duration clock_skew = absl::Seconds(30);
    // Called (on the verifying thread, so it must not block) when a token
    // names a key the set lacks: the issuer may have rotated its keys.
    std::function<void()> on_unknown_key;
  };
  ServiceAccountVerifier(std::shared_ptr<const Jwks> jwks, Options options)
      : jwks_(std::move(jwks)), options_(std::move(options)) {}

  // The workload's SPIFFE ID, or an UNAUTHENTICATED Refusal whose reason is
  // one of token_malformed, token_unsupported_algorithm, token_unknown_key,
  // token_bad_signature, token_wrong_issuer, token_wrong_audience,
  // token_expired, token_not_yet_valid, token_bad_subject.
  absl::StatusOr<identity::SpiffeId> Verify(absl::string_view token, absl::Time now) const;

  // Tokens verified from now on use `jwks`.
  void ReplaceJwks(std::shared_ptr<const Jwks> jwks) ABSL_LOCKS_EXCLUDED(mu_);
  std::shared_ptr<const Jwks> jwks() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable sync::Mutex mu_;
  std::shared_ptr<const Jwks> jwks_ ABSL_GUARDED_BY(mu_);
  const Options options_;
};

}  // namespace palisade::control::auth

#endif  // PALISADE_CONTROL_AUTH_SERVICE_ACCOUNT_VERIFIER_H_
