// The trust of a gateway for clients outside the mesh (devices, partners'
// API clients): its own CA certificates and CRLs in one X509_STORE built
// once, RFC 5280 path validation of a client chain against it, and the
// client's identity taken from the leaf as configured. Not SPIFFE: a mesh
// SVID passes only if its CA is in this store.
#ifndef PALISADE_IDENTITY_GATEWAY_TRUST_H_
#define PALISADE_IDENTITY_GATEWAY_TRUST_H_

#include <openssl/x509.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "identity/verify_reason.h"

namespace palisade {
namespace identity {

// Which value of the leaf names the client: the first URI SAN, DNS SAN
// (lowercased: DNS names compare without case), email SAN, or the first CN
// of the subject.
enum class IdentityFrom { kUriSan, kDnsSan, kEmailSan, kSubjectCn };

// "uri_san", "dns_san", "email_san", "subject_cn"; "" reads as dns_san.
absl::StatusOr<IdentityFrom> ParseIdentityFrom(absl::string_view text);
absl::string_view IdentityFromName(IdentityFrom from);

struct VerifiedClient {
  std::string identity;
  std::string subject;  // RFC 4514, most specific RDN first ("CN=a,O=b")
  std::string leaf_serial;
  absl::Time chain_not_after;    // earliest notAfter on the path, anchor included
  std::string root_fingerprint;  // Sha256Fingerprint of the path's anchor
};

struct ClientVerification {
  VerifyReason reason = VerifyReason::kOk;
  std::string detail;                    // names the rule; empty when ok
  std::optional<VerifiedClient> client;  // set exactly when ok
  bool ok() const { return reason == VerifyReason::kOk; }
};

struct ClientVerifyOptions {
  absl::Time now;
  absl::Duration clock_skew = absl::ZeroDuration();
  IdentityFrom identity_from = IdentityFrom::kDnsSan;
};

// Every X509_CRL block of `pem`; InvalidArgument when there is none or one
// does not parse.
absl::StatusOr<std::vector<bssl::UniquePtr<X509_CRL>>> ParsePemCrls(absl::string_view pem);

// Immutable; any thread may Verify concurrently (X509_STORE locks its lookups).
class GatewayTrust {
 public:
  // `roots` must be CA certificates (basicConstraints CA:true). With any CRL,
  // every certificate on a client path but the anchor is checked against
  // its issuer's CRL, which must be present and current.
  static absl::StatusOr<std::shared_ptr<const GatewayTrust>> Create(
      std::vector<bssl::UniquePtr<X509>> roots, std::vector<bssl::UniquePtr<X509_CRL>> crls);

  // Checks, the first failure reported:
  //  chain present, at most kMaxPeerChainLength, parses     no_certificate, malformed_certificate
  //  a path to an anchor of this store (signatures, CA:true
  //  signers, pathLen, name constraints)                    untrusted_chain
  //  revocation (with CRLs)                                 certificate_revoked, crl_unavailable
  //  leaf not a CA, no keyCertSign/cRLSign                  leaf_is_ca
  //  leaf keyUsage (if present) has digitalSignature, EKU
  //  (if present) has clientAuth; signers keyCertSign       bad_key_usage
  //  keys RSA >= 2048 / EC P-256/384/521                    weak_key
  //  no SHA-1/MD5 signature (anchor's own excepted)         weak_signature
  //  validity at now, give or take the skew                 not_yet_valid, expired
  //  the configured identity value, printable ASCII         no_client_identity
  ClientVerification Verify(absl::Span<X509* const> chain,
                            const ClientVerifyOptions& options) const;

  size_t root_count() const { return fingerprints_.size(); }
  size_t crl_count() const { return crl_count_; }
  // Fingerprints of the anchors, in the order given.
  const std::vector<std::string>& fingerprints() const { return fingerprints_; }

 private:
  GatewayTrust() = default;

  bssl::UniquePtr<X509_STORE> store_;
  std::vector<std::string> fingerprints_;
  size_t crl_count_ = 0;
};

// The client's identity per `from`, or why there is none.
absl::StatusOr<std::string> ClientIdentityOf(X509* leaf, IdentityFrom from);
// RFC 4514 subject, most specific RDN first.
std::string SubjectOf(X509* cert);

}  // namespace identity
}  // namespace palisade

#endif  // PALISADE_IDENTITY_GATEWAY_TRUST_H_
