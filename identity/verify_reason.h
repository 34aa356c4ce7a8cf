// Why an X.509-SVID verification failed, as one closed set of reasons whose codes
// are stable strings (Prometheus label values, log fields).
#ifndef PALISADE_IDENTITY_VERIFY_REASON_H_
#define PALISADE_IDENTITY_VERIFY_REASON_H_

#include <array>
#include <ostream>

#include "absl/strings/string_view.h"

namespace palisade {
namespace identity {

enum class VerifyReason {
  kOk,
  kNoCertificate,         // the peer sent no certificate
  kMalformedCertificate,  // unparsable certificate or extension, unhandled critical extension
  kUntrustedChain,        // no valid path to the bundle of the leaf's trust domain
  kExpired,               // a certificate on the path is past notAfter (+ skew)
  kNotYetValid,           // a certificate on the path is before notBefore (- skew)
  kBadSpiffeId,           // the leaf has no, several or an invalid URI SAN
  kWrongTrustDomain,      // no bundle for the leaf's trust domain, or not the one expected
  kLeafIsCa,              // the leaf is a CA or may sign certificates or CRLs
  kBadKeyUsage,           // keyUsage / extendedKeyUsage unfit for the role
  kWeakKey,               // RSA < 2048 bits, an EC curve other than P-256/384/521, other types
  kWeakSignature,         // signed with SHA-1 or MD5 (or MD4/MD2)
  kNotAuthorized,         // valid SVID, but the authorization policy does not allow it
  // Gateway listeners (clients outside the mesh, identity/gateway_trust.h):
  kCertificateRevoked,  // a certificate on the path is on its issuer's CRL
  kCrlUnavailable,      // no current, valid CRL of an issuer on the path
  kNoClientIdentity,    // the leaf lacks the value identity_from names
  kRevoked,             // valid SVID of an identity on the control plane's deny-list
};

// Every reason, in declaration order (e.g. to pre-register metric label values).
inline constexpr std::array<VerifyReason, 17> kAllVerifyReasons = {
    VerifyReason::kOk,
    VerifyReason::kNoCertificate,
    VerifyReason::kMalformedCertificate,
    VerifyReason::kUntrustedChain,
    VerifyReason::kExpired,
    VerifyReason::kNotYetValid,
    VerifyReason::kBadSpiffeId,
    VerifyReason::kWrongTrustDomain,
    VerifyReason::kLeafIsCa,
    VerifyReason::kBadKeyUsage,
    VerifyReason::kWeakKey,
    VerifyReason::kWeakSignature,
    VerifyReason::kNotAuthorized,
    VerifyReason::kCertificateRevoked,
    VerifyReason::kCrlUnavailable,
    VerifyReason::kNoClientIdentity,
    VerifyReason::kRevoked,
};

// "ok", "no_certificate", "malformed_certificate", "untrusted_chain", "expired",
// "not_yet_valid", "bad_spiffe_id", "wrong_trust_domain", "leaf_is_ca",
// "bad_key_usage", "weak_key", "weak_signature", "not_authorized",
// "certificate_revoked", "crl_unavailable", "no_client_identity", "revoked".
absl::string_view ReasonCode(VerifyReason reason);

inline std::ostream& operator<<(std::ostream& os, VerifyReason reason) {
  return os << ReasonCode(reason);
}

}  // namespace identity
}  // namespace palisade

#endif  // PALISADE_IDENTITY_VERIFY_REASON_H_
