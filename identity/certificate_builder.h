// Assembles one X.509 v3 certificate field by field and signs it. It enforces no
// policy: the signer (identity/signer.h) uses it to issue correct certificates, and
// the test PKI (tests/util/test_pki.h) to issue deliberately broken ones.
#ifndef PALISADE_IDENTITY_CERTIFICATE_BUILDER_H_
#define PALISADE_IDENTITY_CERTIFICATE_BUILDER_H_

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace palisade {
namespace identity {

// keyUsage bits, named after RFC 5280 §4.2.1.3 (not BoringSSL's KU_* masks).
enum KeyUsageBit : uint32_t {
  kDigitalSignature = 1u << 0,
  kNonRepudiation = 1u << 1,
  kKeyEncipherment = 1u << 2,
  kDataEncipherment = 1u << 3,
  kKeyAgreement = 1u << 4,
  kKeyCertSign = 1u << 5,
  kCrlSign = 1u << 6,
};

// Single-use, single-threaded. Every Set/Add returns an error only when BoringSSL
// fails (allocation) or an argument cannot be encoded; the first error sticks and
// Sign() returns it.
class CertificateBuilder {
 public:
  CertificateBuilder();
  CertificateBuilder(const CertificateBuilder&) = delete;
  CertificateBuilder& operator=(const CertificateBuilder&) = delete;

  // A random positive 128-bit serial number.
  CertificateBuilder& SetRandomSerial();
  // Subject as (short name, value) pairs, e.g. {{"O", "Palisade"}, {"CN", "root"}};
  // empty = empty subject.
  CertificateBuilder& SetSubject(const std::vector<std::pair<std::string, std::string>>& rdns);
  // Issuer name copied from `issuer`'s subject; without a call, the issuer name is the
  // subject (self-issued).
  CertificateBuilder& SetIssuerName(X509* issuer);
  CertificateBuilder& SetValidity(absl::Time not_before, absl::Time not_after);
  CertificateBuilder& SetPublicKey(EVP_PKEY* key);
  // Copies a DER SubjectPublicKeyInfo as it is. Cheaper than SetPublicKey, which
  // re-encodes the key (for EC that is a point conversion, about 17 us with this
  // BoringSSL build).
  CertificateBuilder& SetPublicKeyInfo(absl::string_view spki_der);

  // basicConstraints; `path_len` < 0 leaves it out.
  CertificateBuilder& AddBasicConstraints(bool ca, int path_len, bool critical);
  // keyUsage from KeyUsageBit flags.
  CertificateBuilder& AddKeyUsage(uint32_t bits, bool critical);
  // extendedKeyUsage with the given NIDs (e.g. NID_server_auth, NID_client_auth).
  CertificateBuilder& AddExtendedKeyUsage(const std::vector<int>& nids, bool critical);
  // subjectAltName with URI and DNS names, written exactly as given. With `append`
  // a second SAN extension is added even if one exists (only tests want that).
  CertificateBuilder& AddSubjectAltNames(const std::vector<std::string>& uris,
                                         const std::vector<std::string>& dns_names, bool critical,
                                         bool append = false);
  // subjectKeyIdentifier = SHA-1 of the subject public key (RFC 5280 §4.2.1.2 (1)).
  // Needs SetPublicKey first.
  CertificateBuilder& AddSubjectKeyId();
  // authorityKeyIdentifier = the issuer's subjectKeyIdentifier (or, if it has none,
  // SHA-1 of its public key). Pass nullptr for a self-signed certificate: its own key.
  CertificateBuilder& AddAuthorityKeyId(X509* issuer);
  // nameConstraints permitting only URIs whose host is one of `uri_hosts`.
  CertificateBuilder& AddUriNameConstraints(const std::vector<std::string>& uri_hosts);
  // An extension with an unregistered OID (1.3.6.1.4.1.55555.1), for tests of
  // unknown critical extensions.
  CertificateBuilder& AddPrivateExtension(bool critical);

  // Signs with `key` and `digest` (nullptr for Ed25519) and returns the certificate.
  absl::StatusOr<bssl::UniquePtr<X509>> Sign(EVP_PKEY* key, const EVP_MD* digest);

 private:
  CertificateBuilder& Fail(absl::Status status);
  bool ok() const { return status_.ok(); }

  bssl::UniquePtr<X509> cert_;
  bool issuer_set_ = false;
  absl::Status status_;
};

// SHA-1 over the subjectPublicKey bits of `cert`, the keyIdentifier method of
// RFC 5280 §4.2.1.2 (1).
std::string KeyIdOf(const X509* cert);

}  // namespace identity
}  // namespace palisade

#endif  // PALISADE_IDENTITY_CERTIFICATE_BUILDER_H_
