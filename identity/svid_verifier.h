// X.509-SVID verification of a peer's certificate chain: the path to the bundle of
// the leaf's own trust domain, then the X.509-SVID rules, each failure mapped to
// one VerifyReason.
#ifndef PALISADE_IDENTITY_SVID_VERIFIER_H_
#define PALISADE_IDENTITY_SVID_VERIFIER_H_

#include <openssl/x509.h>

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "identity/spiffe_id.h"
#include "identity/trust_bundle.h"
#include "identity/verify_reason.h"

namespace palisade {
namespace identity {

// The role the peer plays in the connection, for the extendedKeyUsage rule.
enum class PeerRole { kAny, kClient, kServer };

struct VerifyOptions {
  absl::Time now;  // injectable clock
  // Certificates are accepted from notBefore - skew to notAfter + skew.
  absl::Duration clock_skew = absl::ZeroDuration();
  PeerRole peer_role = PeerRole::kAny;
  // If non-empty, the leaf must belong to this trust domain (kWrongTrustDomain).
  std::string expected_trust_domain;
};

struct VerifiedSvid {
  SpiffeId spiffe_id;
  std::string leaf_serial;  // SerialHex
  absl::Time leaf_not_after;
  absl::Time chain_not_after;    // earliest notAfter along the verified path incl. the anchor
  std::string root_fingerprint;  // Sha256Fingerprint of the anchor of the path
};

struct SvidVerification {
  VerifyReason reason = VerifyReason::kOk;
  std::string detail;                // human text naming the rule; empty when ok
  std::optional<VerifiedSvid> svid;  // set exactly when ok
  bool ok() const { return reason == VerifyReason::kOk; }
};

// At most this many certificates are looked at in a peer's chain.
inline constexpr size_t kMaxPeerChainLength = 10;

// Verifies `chain` (leaf first, then whatever intermediates the peer sent, possibly
// its root too) against the anchors `bundles` holds for the trust domain of the
// leaf's SPIFFE ID, never another domain's. Roots the peer sends are never trusted
// for being sent. Checks, in this order (the first failure is reported):
//  1. a chain, no null entries, at most kMaxPeerChainLength   no_certificate,
//     certificates, the leaf's extensions parse                malformed_certificate,
//                                                              untrusted_chain
//  2. the leaf has exactly one URI SAN, a valid SPIFFE ID
//     with a path (X509-SVID section 3)                        bad_spiffe_id
//  3. there is a bundle for its trust domain (and it is the
//     expected one, if options name one)                       wrong_trust_domain
//  4. a path to one of that domain's anchors, with valid
//     signatures, CA:true signers, pathLen, name constraints   untrusted_chain (or the
//                                                              specific reason below)
//  5. the leaf is not a CA and has no keyCertSign/cRLSign      leaf_is_ca
//  6. leaf keyUsage present, with digitalSignature (X509-SVID
//     section 4.3); leaf EKU, if present, has clientAuth/
//     serverAuth for the role; every signer has keyUsage
//     with keyCertSign                                         bad_key_usage
//  7. every key on the path: RSA >= 2048, EC P-256/384/521     weak_key
//  8. no signature on the path (the anchor's self-signature
//     excepted) uses SHA-1, MD5, MD4 or MD2                   weak_signature
//  9. every certificate on the path is within its validity
//     at options.now, give or take options.clock_skew          not_yet_valid, expired
// Thread-safe; allocates per call but never rebuilds stores or re-parses roots.
SvidVerification VerifySvidChain(absl::Span<X509* const> chain, const TrustBundleSet& bundles,
                                 const VerifyOptions& options);

// As VerifySvidChain over DER certificates (as a TLS stack hands them over); a
// certificate that does not parse is malformed_certificate.
SvidVerification VerifySvidChainDer(absl::Span<const absl::string_view> der_chain,
                                    const TrustBundleSet& bundles, const VerifyOptions& options);

}  // namespace identity
}  // namespace palisade

#endif  // PALISADE_IDENTITY_SVID_VERIFIER_H_
