#include "identity/verify_reason.h"

namespace palisade {
namespace identity {

absl::string_view ReasonCode(VerifyReason reason) {
  switch (reason) {
    case VerifyReason::kOk:
      return "ok";
    case VerifyReason::kNoCertificate:
      return "no_certificate";
    case VerifyReason::kMalformedCertificate:
      return "malformed_certificate";
    case VerifyReason::kUntrustedChain:
      return "untrusted_chain";
    case VerifyReason::kExpired:
      return "expired";
    case VerifyReason::kNotYetValid:
      return "not_yet_valid";
    case VerifyReason::kBadSpiffeId:
      return "bad_spiffe_id";
    case VerifyReason::kWrongTrustDomain:
      return "wrong_trust_domain";
    case VerifyReason::kLeafIsCa:
      return "leaf_is_ca";
    case VerifyReason::kBadKeyUsage:
      return "bad_key_usage";
    case VerifyReason::kWeakKey:
      return "weak_key";
    case VerifyReason::kWeakSignature:
      return "weak_signature";
    case VerifyReason::kNotAuthorized:
      return "not_authorized";
    case VerifyReason::kCertificateRevoked:
      return "certificate_revoked";
    case VerifyReason::kCrlUnavailable:
      return "crl_unavailable";
    case VerifyReason::kNoClientIdentity:
      return "no_client_identity";
    case VerifyReason::kRevoked:
      return "revoked";
  }
  return "unknown";
}

}  // namespace identity
}  // namespace palisade
