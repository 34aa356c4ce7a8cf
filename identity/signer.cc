#include "identity/signer.h"

#include <openssl/err.h>
#include <openssl/nid.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "identity/certificate.h"
#include "identity/certificate_builder.h"
#include "identity/keys.h"
#include "identity/spiffe_id.h"
#include "runtime/status/status_macros.h"

namespace palisade {
namespace identity {
namespace {

constexpr char kOrganization[] = "Palisade";
constexpr size_t kMaxCommonName = 64;  // ub-common-name, RFC 5280

// ECDSA-with-SHA256 for EC CA keys, SHA256-with-RSA for RSA ones.
const EVP_MD* Digest() { return EVP_sha256(); }

// The trust domain a CA certificate names in its first URI SAN, if any.
absl::StatusOr<std::optional<std::string>> TrustDomainOf(X509* ca) {
  ASSIGN_OR_RETURN(std::vector<std::string> uris, UriSansOf(ca));
  if (uris.empty()) return std::optional<std::string>();
  absl::StatusOr<SpiffeId> id = SpiffeId::Parse(uris.front());
  if (!id.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("issuer's URI SAN is not a SPIFFE ID: ", id.status().message()));
  }
  return std::optional<std::string>(id->trust_domain());
}

// The issuer can sign at `now`; returns the trust domain it names, if any.
absl::StatusOr<std::optional<std::string>> CheckIssuer(const Issuer& issuer, absl::Time now) {
  if (issuer.certificate == nullptr || issuer.private_key == nullptr) {
    return absl::InvalidArgumentError("issuer certificate and private key are both required");
  }
  if (!KeyMatchesCertificate(issuer.private_key, issuer.certificate)) {
    return absl::FailedPreconditionError("issuer private key does not match its certificate");
  }
  const uint32_t flags = X509_get_extension_flags(issuer.certificate);
  ERR_clear_error();
  if (!(flags & EXFLAG_CA)) {
    return absl::FailedPreconditionError("issuer is not a CA (basicConstraints CA:true)");
  }
  if (!(flags & EXFLAG_KUSAGE) || !(X509_get_key_usage(issuer.certificate) & KU_KEY_CERT_SIGN)) {
    return absl::FailedPreconditionError("issuer's keyUsage lacks keyCertSign");
  }
  if (now < NotBefore(issuer.certificate)) {
    return absl::FailedPreconditionError("issuer is not yet valid");
  }
  if (now >= NotAfter(issuer.certificate)) {
    return absl::FailedPreconditionError("issuer has expired");
  }
  return TrustDomainOf(issuer.certificate);
}

absl::Status CheckCaOptions(EVP_PKEY* key, const CaOptions& options) {
  RETURN_IF_ERROR(ValidateTrustDomain(options.trust_domain));
  if (options.common_name.size() > kMaxCommonName) {
    return absl::InvalidArgumentError(
        absl::StrCat("common_name is longer than ", kMaxCommonName, " bytes"));
  }
  if (options.ttl <= absl::ZeroDuration()) return absl::InvalidArgumentError("ttl must be > 0");
  if (options.path_len < -1) return absl::InvalidArgumentError("path_len must be >= -1");
  if (key == nullptr) return absl::InvalidArgumentError("no CA key");
  if (absl::Status s = CheckKeyStrength(key, KeyPolicy::kCertificate); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("CA key: ", s.message()));
  }
  return absl::OkStatus();
}

// The fields roots and intermediates share.
void AddCaFields(CertificateBuilder& builder, EVP_PKEY* key, const CaOptions& options,
                 absl::Time not_after) {
  std::string common_name = options.common_name;
  if (common_name.empty()) {
    common_name = options.trust_domain.substr(0, kMaxCommonName - 3) + " CA";
  }
  builder.SetRandomSerial()
      .SetSubject({{"O", kOrganization}, {"CN", common_name}})
      .SetValidity(options.now, not_after)
      .SetPublicKey(key)
      .AddBasicConstraints(/*ca=*/true, options.path_len, /*critical=*/true)
      .AddKeyUsage(kKeyCertSign | kCrlSign, /*critical=*/true)
      .AddSubjectAltNames({absl::StrCat("spiffe://", options.trust_domain)}, {},
                          /*critical=*/false)
      .AddSubjectKeyId();
  if (options.name_constrain_to_trust_domain) {
    builder.AddUriNameConstraints({options.trust_domain});
  }
}

}  // namespace

absl::StatusOr<bssl::UniquePtr<X509>> IssueSvid(const CheckedCsr& csr, const Issuer& issuer,
                                                const LeafOptions& options) {
  if (options.ttl <= absl::ZeroDuration()) return absl::InvalidArgumentError("ttl must be > 0");
  if (options.backdate < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("backdate must be >= 0");
  }
  if (absl::Status s = CheckKeyStrength(csr.public_key.get(), KeyPolicy::kCsr); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("CSR key: ", s.message()));
  }
  // A hand-made CheckedCsr bypasses ParseAndCheckCsr; no leaf may name a bare domain.
  RETURN_IF_ERROR(ValidateWorkloadId(csr.spiffe_id));
  ASSIGN_OR_RETURN(std::optional<std::string> issuer_domain, CheckIssuer(issuer, options.now));
  if (issuer_domain.has_value() && *issuer_domain != csr.spiffe_id.trust_domain()) {
    return absl::InvalidArgumentError(absl::StrCat(
        csr.spiffe_id.ToString(), " is not in the issuer's trust domain \"", *issuer_domain, "\""));
  }
  const absl::Time not_after = std::min(options.now + options.ttl, NotAfter(issuer.certificate));

  CertificateBuilder builder;
  // Issuer before subject: SetSubject then skips copying the subject into the
  // issuer field only to overwrite it.
  builder.SetRandomSerial()
      .SetIssuerName(issuer.certificate)
      .SetSubject({{"O", kOrganization}})
      .SetValidity(options.now - options.backdate, not_after);
  if (csr.public_key_info.empty()) {
    builder.SetPublicKey(csr.public_key.get());
  } else {
    // The SPKI bytes must be the key that was checked.
    const uint8_t* p = reinterpret_cast<const uint8_t*>(csr.public_key_info.data());
    bssl::UniquePtr<EVP_PKEY> spki_key(
        d2i_PUBKEY(nullptr, &p, static_cast<long>(csr.public_key_info.size())));
    if (spki_key == nullptr || EVP_PKEY_cmp(spki_key.get(), csr.public_key.get()) != 1) {
      ERR_clear_error();
      return absl::InvalidArgumentError("CheckedCsr: public_key_info is not public_key");
    }
    builder.SetPublicKeyInfo(csr.public_key_info);
  }
  builder.AddBasicConstraints(/*ca=*/false, /*path_len=*/-1, /*critical=*/true)
      .AddKeyUsage(kDigitalSignature, /*critical=*/true)
      .AddExtendedKeyUsage({NID_server_auth, NID_client_auth}, /*critical=*/false)
      .AddSubjectAltNames({csr.spiffe_id.ToString()}, {}, /*critical=*/false)
      .AddSubjectKeyId()
      .AddAuthorityKeyId(issuer.certificate);
  return builder.Sign(issuer.private_key, Digest());
}

absl::StatusOr<bssl::UniquePtr<X509>> CreateSelfSignedRoot(EVP_PKEY* key,
                                                           const CaOptions& options) {
  RETURN_IF_ERROR(CheckCaOptions(key, options));
  CertificateBuilder builder;
  AddCaFields(builder, key, options, options.now + options.ttl);
  builder.AddAuthorityKeyId(nullptr);
  return builder.Sign(key, Digest());
}

absl::StatusOr<bssl::UniquePtr<X509>> CreateIntermediate(EVP_PKEY* subject_key,
                                                         const Issuer& issuer,
                                                         const CaOptions& options) {
  RETURN_IF_ERROR(CheckCaOptions(subject_key, options));
  ASSIGN_OR_RETURN(std::optional<std::string> issuer_domain, CheckIssuer(issuer, options.now));
  if (issuer_domain.has_value() && *issuer_domain != options.trust_domain) {
    return absl::InvalidArgumentError(absl::StrCat("trust domain \"", options.trust_domain,
                                                   "\" is not the issuer's (\"", *issuer_domain,
                                                   "\")"));
  }
  const long issuer_path_len = X509_get_pathlen(issuer.certificate);
  if (issuer_path_len == 0) {
    return absl::FailedPreconditionError("issuer's pathLen 0 forbids issuing CA certificates");
  }
  if (issuer_path_len > 0 && options.path_len >= issuer_path_len) {
    return absl::InvalidArgumentError(absl::StrCat("path_len ", options.path_len,
                                                   " must be smaller than the issuer's pathLen ",
                                                   issuer_path_len));
  }
  CertificateBuilder builder;
  AddCaFields(builder, subject_key, options,
              std::min(options.now + options.ttl, NotAfter(issuer.certificate)));
  builder.SetIssuerName(issuer.certificate).AddAuthorityKeyId(issuer.certificate);
  return builder.Sign(issuer.private_key, Digest());
}

}  // namespace identity
}  // namespace palisade
