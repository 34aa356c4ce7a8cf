#include "runtime/verify/verify_alert.h"

#include <openssl/ssl.h>

namespace palisade::verify {

uint8_t AlertFor(identity::VerifyReason reason) {
  using identity::VerifyReason;
  switch (reason) {
    case VerifyReason::kNoCertificate:
      return SSL_AD_CERTIFICATE_REQUIRED;
    case VerifyReason::kUntrustedChain:
    case VerifyReason::kWrongTrustDomain:
      return SSL_AD_UNKNOWN_CA;
    case VerifyReason::kExpired:
      return SSL_AD_CERTIFICATE_EXPIRED;
    case VerifyReason::kNotAuthorized:
      return SSL_AD_ACCESS_DENIED;
    case VerifyReason::kCertificateRevoked:
    case VerifyReason::kRevoked:
      return SSL_AD_CERTIFICATE_REVOKED;
    case VerifyReason::kWeakKey:
    case VerifyReason::kWeakSignature:
      return SSL_AD_UNSUPPORTED_CERTIFICATE;
    default:
      return SSL_AD_BAD_CERTIFICATE;
  }
}

}  // namespace palisade::verify
