#include "identity/csr.h"

#include <openssl/bytestring.h>
#include <openssl/err.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "identity/boringssl_error.h"
#include "identity/keys.h"
#include "runtime/status/status_macros.h"

namespace palisade {
namespace identity {
namespace {

absl::Status CsrError(absl::string_view rule) {
  ERR_clear_error();
  return absl::InvalidArgumentError(absl::StrCat("CSR: ", rule));
}

bool IsWeakSignature(int nid) {
  return nid == NID_sha1WithRSAEncryption || nid == NID_sha1WithRSA || nid == NID_ecdsa_with_SHA1 ||
         nid == NID_md5WithRSAEncryption || nid == NID_md5WithRSA ||
         nid == NID_md4WithRSAEncryption || nid == NID_md2WithRSAEncryption ||
         nid == NID_shaWithRSAEncryption || nid == NID_dsaWithSHA1 || nid == NID_dsaWithSHA1_2;
}

struct ExtensionStackDeleter {
  void operator()(STACK_OF(X509_EXTENSION) * exts) const {
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  }
};
using ExtensionStack = std::unique_ptr<STACK_OF(X509_EXTENSION), ExtensionStackDeleter>;

// The URIs of the one subjectAltName extension requested in `req`.
absl::StatusOr<std::vector<std::string>> RequestedUris(X509_REQ* req) {
  ExtensionStack exts(X509_REQ_get_extensions(req));
  const X509_EXTENSION* san = nullptr;
  for (size_t i = 0; exts != nullptr && i < sk_X509_EXTENSION_num(exts.get()); ++i) {
    X509_EXTENSION* ext = sk_X509_EXTENSION_value(exts.get(), i);
    if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) != NID_subject_alt_name) continue;
    if (san != nullptr) return CsrError("requests more than one subjectAltName extension");
    san = ext;
  }
  if (san == nullptr) return CsrError("has no URI SAN; it must request exactly one");
  bssl::UniquePtr<GENERAL_NAMES> names(static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(san)));
  if (names == nullptr) return CsrError("subjectAltName extension is malformed");
  std::vector<std::string> uris;
  for (size_t i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type != GEN_URI) continue;
    uris.emplace_back(
        reinterpret_cast<const char*>(ASN1_STRING_get0_data(name->d.uniformResourceIdentifier)),
        static_cast<size_t>(ASN1_STRING_length(name->d.uniformResourceIdentifier)));
  }
  return uris;
}

// The SubjectPublicKeyInfo element of a CertificationRequest, as its DER bytes
// (RFC 2986: SEQUENCE { SEQUENCE { version, subject, subjectPKInfo, ... }, ... }).
std::string PublicKeyInfoDer(absl::string_view csr_der) {
  CBS csr, request, info, spki;
  CBS_init(&csr, reinterpret_cast<const uint8_t*>(csr_der.data()), csr_der.size());
  if (!CBS_get_asn1(&csr, &request, CBS_ASN1_SEQUENCE) ||
      !CBS_get_asn1(&request, &info, CBS_ASN1_SEQUENCE) ||
      !CBS_get_asn1(&info, nullptr, CBS_ASN1_INTEGER) ||
      !CBS_get_asn1(&info, nullptr, CBS_ASN1_SEQUENCE) ||
      !CBS_get_asn1_element(&info, &spki, CBS_ASN1_SEQUENCE)) {
    return "";
  }
  return std::string(reinterpret_cast<const char*>(CBS_data(&spki)), CBS_len(&spki));
}

}  // namespace

absl::StatusOr<std::string> CreateCsrDer(EVP_PKEY* key, const SpiffeId& id) {
  if (key == nullptr) return absl::InvalidArgumentError("CSR: no key");
  bssl::UniquePtr<X509_REQ> req(X509_REQ_new());
  bssl::UniquePtr<GENERAL_NAMES> names(sk_GENERAL_NAME_new_null());
  bssl::UniquePtr<GENERAL_NAME> uri(GENERAL_NAME_new());
  bssl::UniquePtr<ASN1_IA5STRING> value(ASN1_IA5STRING_new());
  const std::string id_string = id.ToString();
  if (req == nullptr || names == nullptr || uri == nullptr || value == nullptr ||
      !X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) ||
      !X509_REQ_set_pubkey(req.get(), key) ||
      !ASN1_STRING_set(value.get(), id_string.data(), static_cast<int>(id_string.size()))) {
    return InternalBoringSslError("building the CSR");
  }
  GENERAL_NAME_set0_value(uri.get(), GEN_URI, value.release());
  if (!bssl::PushToStack(names.get(), std::move(uri))) return InternalBoringSslError("SAN");
  STACK_OF(X509_EXTENSION)* raw_exts = nullptr;
  const bool added = X509V3_add1_i2d(&raw_exts, NID_subject_alt_name, names.get(), /*crit=*/0,
                                     X509V3_ADD_DEFAULT) == 1;
  ExtensionStack exts(raw_exts);
  if (!added || !X509_REQ_add_extensions(req.get(), exts.get())) {
    return InternalBoringSslError("adding the SAN extension request");
  }
  const EVP_MD* digest = EVP_PKEY_id(key) == EVP_PKEY_ED25519 ? nullptr : EVP_sha256();
  if (!X509_REQ_sign(req.get(), key, digest)) {
    return BoringSslError(absl::StatusCode::kInvalidArgument, "signing the CSR");
  }
  uint8_t* der = nullptr;
  const int len = i2d_X509_REQ(req.get(), &der);
  if (len <= 0) return InternalBoringSslError("encoding the CSR");
  bssl::UniquePtr<uint8_t> owned(der);
  return std::string(reinterpret_cast<const char*>(der), static_cast<size_t>(len));
}

absl::StatusOr<CheckedCsr> ParseAndCheckCsr(absl::string_view der) {
  if (der.size() > kMaxCsrSize) {
    return CsrError(absl::StrCat("is larger than ", kMaxCsrSize, " bytes"));
  }
  const uint8_t* p = reinterpret_cast<const uint8_t*>(der.data());
  bssl::UniquePtr<X509_REQ> req(d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
  if (req == nullptr) {
    return BoringSslError(absl::StatusCode::kInvalidArgument, "CSR: DER does not parse");
  }
  if (p != reinterpret_cast<const uint8_t*>(der.data()) + der.size()) {
    return CsrError("DER has trailing bytes");
  }
  bssl::UniquePtr<EVP_PKEY> key(X509_REQ_get_pubkey(req.get()));
  if (key == nullptr) return CsrError("public key cannot be parsed");
  // Key rules first: they are cheap, and they bound what the signature check costs.
  if (absl::Status s = CheckKeyStrength(key.get(), KeyPolicy::kCsr); !s.ok()) {
    return CsrError(s.message());
  }
  if (X509_REQ_verify(req.get(), key.get()) != 1) {
    return CsrError("signature does not verify with the requested key");
  }
  if (IsWeakSignature(X509_REQ_get_signature_nid(req.get()))) {
    return CsrError(absl::StrCat("is signed with ",
                                 OBJ_nid2sn(X509_REQ_get_signature_nid(req.get())),
                                 "; SHA-1 and MD5 based signatures are refused"));
  }
  ASSIGN_OR_RETURN(std::vector<std::string> uris, RequestedUris(req.get()));
  if (uris.size() != 1) {
    return CsrError(absl::StrCat("requests ", uris.size(), " URI SANs; exactly one is required"));
  }
  absl::StatusOr<SpiffeId> id = SpiffeId::Parse(uris.front());
  if (!id.ok()) return CsrError(id.status().message());
  if (absl::Status s = ValidateWorkloadId(*id); !s.ok()) return CsrError(s.message());
  ERR_clear_error();
  return CheckedCsr{*std::move(id), std::move(key), PublicKeyInfoDer(der)};
}

}  // namespace identity
}  // namespace palisade
