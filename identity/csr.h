// PKCS#10 certificate signing requests carrying a SPIFFE ID: creation on the
// workload side, parsing and checking on the control-plane side.
#ifndef PALISADE_IDENTITY_CSR_H_
#define PALISADE_IDENTITY_CSR_H_

#include <openssl/evp.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "identity/spiffe_id.h"

namespace palisade {
namespace identity {

// Largest CSR ParseAndCheckCsr looks at; real ones are well under 1 KiB.
inline constexpr size_t kMaxCsrSize = 16 * 1024;

// A DER PKCS#10 CSR for `key` (signed with it, SHA-256) whose only requested
// extension is a subjectAltName with the single URI `id`. The subject is empty: the
// CA decides the subject and never copies anything else from a CSR.
absl::StatusOr<std::string> CreateCsrDer(EVP_PKEY* key, const SpiffeId& id);

// What the CA may certify: the requested SPIFFE ID and the key that proved
// possession by signing the request.
struct CheckedCsr {
  SpiffeId spiffe_id;
  bssl::UniquePtr<EVP_PKEY> public_key;
  // The request's SubjectPublicKeyInfo DER, the same key as `public_key`. The signer
  // copies it into the certificate instead of re-encoding the key; when empty (a
  // hand-made CheckedCsr) it encodes `public_key`.
  std::string public_key_info;
};

// Parses a DER CSR and checks, in order: size and DER (nothing after it), the
// public key parses and is EC P-256/P-384 or RSA 2048-8192 bits, the signature
// verifies and is not SHA-1/MD5 based, exactly one subjectAltName extension request
// with exactly one URI, a valid SPIFFE ID with a path. InvalidArgument naming the failed rule
// ("CSR: ..."). Whether the caller may have that ID is the caller's decision.
absl::StatusOr<CheckedCsr> ParseAndCheckCsr(absl::string_view der);

}  // namespace identity
}  // namespace palisade

#endif  // PALISADE_IDENTITY_CSR_H_
