// Certificate issuance for the control plane (and tests): X.509-SVID leaves from
// checked CSRs, self-signed roots and intermediates. ECDSA-with-SHA256 (or
// SHA256-with-RSA for an RSA CA key). Stateless and thread-safe.
#ifndef PALISADE_IDENTITY_SIGNER_H_
#define PALISADE_IDENTITY_SIGNER_H_

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "identity/csr.h"

namespace palisade {
namespace identity {

// A CA certificate and its private key (not owned).
struct Issuer {
  X509* certificate;
  EVP_PKEY* private_key;
};

struct LeafOptions {
  absl::Time now;
  absl::Duration ttl = absl::Hours(1);
  // notBefore = now - backdate, so peers whose clocks lag a little accept it.
  absl::Duration backdate = absl::Seconds(30);
};

// Issues an X.509-SVID for `csr`: random positive 128-bit serial; subject
// O=Palisade; the CSR's key; validity [now - backdate, min(now + ttl, issuer's
// notAfter)]; basicConstraints CA:false (critical); keyUsage digitalSignature
// (critical); EKU serverAuth + clientAuth; SKI; AKI = the issuer's SKI; the URI SAN.
// Nothing else is taken from the request. Errors: InvalidArgument for bad options, a
// SPIFFE ID without a path, or one outside the issuer's trust domain (when the issuer names one in
// a URI SAN); FailedPrecondition when the issuer cannot issue (not a CA with keyCertSign, key
// mismatch, expired or not yet valid at `now`).
absl::StatusOr<bssl::UniquePtr<X509>> IssueSvid(const CheckedCsr& csr, const Issuer& issuer,
                                                const LeafOptions& options);

struct CaOptions {
  std::string trust_domain;
  std::string common_name;  // at most 64 bytes; empty = "<trust domain> CA"
  absl::Time now;           // notBefore
  absl::Duration ttl;       // notAfter = now + ttl (clamped to the issuer's notAfter)
  int path_len = -1;        // basicConstraints pathLenConstraint; -1 = none
  // Adds a critical nameConstraints extension permitting only URIs whose host is
  // the trust domain, so this CA cannot vouch for another domain's IDs.
  bool name_constrain_to_trust_domain = false;
};

// A self-signed root: subject O=Palisade, CN=common_name; basicConstraints CA:true
// (critical) with pathLen if set; keyUsage keyCertSign + cRLSign (critical); SKI; AKI
// (its own key); URI SAN "spiffe://<trust domain>"; nameConstraints if asked. The key
// must pass CheckKeyStrength(kCertificate).
absl::StatusOr<bssl::UniquePtr<X509>> CreateSelfSignedRoot(EVP_PKEY* key, const CaOptions& options);

// An intermediate CA for `subject_key`, signed by `issuer`, shaped like a root. The
// trust domain must be the issuer's (if it names one); the issuer's pathLen must
// leave room for it (pathLen 0 issues no CAs; a requested path_len must be smaller).
absl::StatusOr<bssl::UniquePtr<X509>> CreateIntermediate(EVP_PKEY* subject_key,
                                                         const Issuer& issuer,
                                                         const CaOptions& options);

}  // namespace identity
}  // namespace palisade

#endif  // PALISADE_IDENTITY_SIGNER_H_
