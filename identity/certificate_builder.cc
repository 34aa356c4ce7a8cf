#include "identity/certificate_builder.h"

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/bytestring.h>
#include <openssl/digest.h>
#include <openssl/err.h>
#include <openssl/mem.h>
#include <openssl/obj.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "identity/boringssl_error.h"

namespace palisade {
namespace identity {
namespace {

bssl::UniquePtr<ASN1_TIME> ToAsn1Time(absl::Time t) {
  if (t == absl::InfinitePast() || t == absl::InfiniteFuture()) return nullptr;
  return bssl::UniquePtr<ASN1_TIME>(ASN1_TIME_set(nullptr, absl::ToTimeT(t)));
}

bssl::UniquePtr<GENERAL_NAME> MakeName(int type, absl::string_view value) {
  bssl::UniquePtr<GENERAL_NAME> name(GENERAL_NAME_new());
  bssl::UniquePtr<ASN1_IA5STRING> ia5(ASN1_IA5STRING_new());
  if (name == nullptr || ia5 == nullptr ||
      !ASN1_STRING_set(ia5.get(), value.data(), static_cast<int>(value.size()))) {
    return nullptr;
  }
  GENERAL_NAME_set0_value(name.get(), type, ia5.release());
  return name;
}

}  // namespace

std::string KeyIdOf(const X509* cert) {
  const ASN1_BIT_STRING* key_bits = X509_get0_pubkey_bitstr(cert);
  if (key_bits == nullptr) return "";
  uint8_t md[SHA_DIGEST_LENGTH];
  unsigned len = 0;
  if (!EVP_Digest(ASN1_STRING_get0_data(key_bits),
                  static_cast<size_t>(ASN1_STRING_length(key_bits)), md, &len, EVP_sha1(),
                  nullptr)) {
    ERR_clear_error();
    return "";
  }
  return std::string(reinterpret_cast<const char*>(md), len);
}

CertificateBuilder::CertificateBuilder() : cert_(X509_new()) {
  if (cert_ == nullptr || !X509_set_version(cert_.get(), X509_VERSION_3)) {
    Fail(InternalBoringSslError("X509_new"));
  }
}

CertificateBuilder& CertificateBuilder::Fail(absl::Status status) {
  if (status_.ok()) status_ = std::move(status);
  return *this;
}

CertificateBuilder& CertificateBuilder::SetRandomSerial() {
  if (!ok()) return *this;
  // 128 random bits, read as an unsigned (so positive) integer; DER adds a leading
  // zero byte when the top bit is set. Zero is not a valid serial: draw again.
  uint8_t bytes[16];
  bssl::UniquePtr<BIGNUM> bn(BN_new());
  if (bn == nullptr) return Fail(InternalBoringSslError("BN_new"));
  do {
    RAND_bytes(bytes, sizeof(bytes));
    if (!BN_bin2bn(bytes, sizeof(bytes), bn.get()))
      return Fail(InternalBoringSslError("BN_bin2bn"));
  } while (BN_is_zero(bn.get()));
  bssl::UniquePtr<ASN1_INTEGER> serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (serial == nullptr || !X509_set_serialNumber(cert_.get(), serial.get())) {
    return Fail(InternalBoringSslError("setting the serial number"));
  }
  return *this;
}

CertificateBuilder& CertificateBuilder::SetSubject(
    const std::vector<std::pair<std::string, std::string>>& rdns) {
  if (!ok()) return *this;
  bssl::UniquePtr<X509_NAME> name(X509_NAME_new());
  if (name == nullptr) return Fail(InternalBoringSslError("X509_NAME_new"));
  for (const auto& [field, value] : rdns) {
    if (!X509_NAME_add_entry_by_txt(name.get(), field.c_str(), MBSTRING_UTF8,
                                    reinterpret_cast<const uint8_t*>(value.data()),
                                    static_cast<int>(value.size()), -1, 0)) {
      return Fail(
          BoringSslError(absl::StatusCode::kInvalidArgument,
                         absl::StrCat("subject ", field, "=", value, " cannot be encoded")));
    }
  }
  if (!X509_set_subject_name(cert_.get(), name.get()) ||
      (!issuer_set_ && !X509_set_issuer_name(cert_.get(), name.get()))) {
    return Fail(InternalBoringSslError("setting the subject"));
  }
  return *this;
}

CertificateBuilder& CertificateBuilder::SetIssuerName(X509* issuer) {
  if (!ok()) return *this;
  if (!X509_set_issuer_name(cert_.get(), X509_get_subject_name(issuer))) {
    return Fail(InternalBoringSslError("setting the issuer name"));
  }
  issuer_set_ = true;
  return *this;
}

CertificateBuilder& CertificateBuilder::SetValidity(absl::Time not_before, absl::Time not_after) {
  if (!ok()) return *this;
  bssl::UniquePtr<ASN1_TIME> nb = ToAsn1Time(not_before);
  bssl::UniquePtr<ASN1_TIME> na = ToAsn1Time(not_after);
  if (nb == nullptr || na == nullptr) {
    return Fail(BoringSslError(absl::StatusCode::kInvalidArgument,
                               "validity time cannot be encoded (years 0000-9999 only)"));
  }
  if (!X509_set1_notBefore(cert_.get(), nb.get()) || !X509_set1_notAfter(cert_.get(), na.get())) {
    return Fail(InternalBoringSslError("setting the validity"));
  }
  return *this;
}

CertificateBuilder& CertificateBuilder::SetPublicKey(EVP_PKEY* key) {
  if (!ok()) return *this;
  if (key == nullptr || !X509_set_pubkey(cert_.get(), key)) {
    return Fail(BoringSslError(absl::StatusCode::kInvalidArgument, "setting the public key"));
  }
  return *this;
}

CertificateBuilder& CertificateBuilder::SetPublicKeyInfo(absl::string_view spki_der) {
  if (!ok()) return *this;
  const uint8_t* p = reinterpret_cast<const uint8_t*>(spki_der.data());
  bssl::UniquePtr<X509_PUBKEY> spki(
      d2i_X509_PUBKEY(nullptr, &p, static_cast<long>(spki_der.size())));
  if (spki == nullptr || p != reinterpret_cast<const uint8_t*>(spki_der.data()) + spki_der.size()) {
    return Fail(BoringSslError(absl::StatusCode::kInvalidArgument,
                               "SubjectPublicKeyInfo DER does not parse"));
  }
  const uint8_t* key = nullptr;
  int key_len = 0;
  X509_ALGOR* algorithm = nullptr;
  const ASN1_OBJECT* algorithm_oid = nullptr;
  int param_type = V_ASN1_UNDEF;
  const void* param = nullptr;
  if (!X509_PUBKEY_get0_param(nullptr, &key, &key_len, &algorithm, spki.get())) {
    return Fail(InternalBoringSslError("X509_PUBKEY_get0_param"));
  }
  X509_ALGOR_get0(&algorithm_oid, &param_type, &param, algorithm);
  // X509_PUBKEY_set0_param takes ownership: hand it copies.
  bssl::UniquePtr<ASN1_OBJECT> oid_copy(OBJ_dup(algorithm_oid));
  void* param_copy = nullptr;
  if (param_type == V_ASN1_OBJECT) {
    param_copy = OBJ_dup(static_cast<const ASN1_OBJECT*>(param));
  } else if (param_type != V_ASN1_UNDEF && param_type != V_ASN1_NULL) {
    param_copy = ASN1_STRING_dup(static_cast<const ASN1_STRING*>(param));
  }
  uint8_t* key_copy = static_cast<uint8_t*>(OPENSSL_memdup(key, static_cast<size_t>(key_len)));
  const bool copied =
      oid_copy != nullptr && key_copy != nullptr &&
      (param_copy != nullptr || param_type == V_ASN1_UNDEF || param_type == V_ASN1_NULL);
  if (!copied || !X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(cert_.get()), oid_copy.get(),
                                         param_type, param_copy, key_copy, key_len)) {
    // On failure nothing was taken over.
    if (param_type == V_ASN1_OBJECT) {
      ASN1_OBJECT_free(static_cast<ASN1_OBJECT*>(param_copy));
    } else {
      ASN1_STRING_free(static_cast<ASN1_STRING*>(param_copy));
    }
    OPENSSL_free(key_copy);
    return Fail(InternalBoringSslError("setting the SubjectPublicKeyInfo"));
  }
  oid_copy.release();
  return *this;
}

CertificateBuilder& CertificateBuilder::AddBasicConstraints(bool ca, int path_len, bool critical) {
  if (!ok()) return *this;
  bssl::UniquePtr<BASIC_CONSTRAINTS> bc(BASIC_CONSTRAINTS_new());
  if (bc == nullptr) return Fail(InternalBoringSslError("BASIC_CONSTRAINTS_new"));
  bc->ca = ca ? 0xff : 0;
  if (path_len >= 0) {
    bc->pathlen = ASN1_INTEGER_new();
    if (bc->pathlen == nullptr || !ASN1_INTEGER_set(bc->pathlen, path_len)) {
      return Fail(InternalBoringSslError("encoding pathLen"));
    }
  }
  if (!X509_add1_ext_i2d(cert_.get(), NID_basic_constraints, bc.get(), critical,
                         X509V3_ADD_DEFAULT)) {
    return Fail(InternalBoringSslError("adding basicConstraints"));
  }
  return *this;
}

CertificateBuilder& CertificateBuilder::AddKeyUsage(uint32_t bits, bool critical) {
  if (!ok()) return *this;
  bssl::UniquePtr<ASN1_BIT_STRING> usage(ASN1_BIT_STRING_new());
  if (usage == nullptr) return Fail(InternalBoringSslError("ASN1_BIT_STRING_new"));
  for (int bit = 0; bit < 9; ++bit) {
    if ((bits & (1u << bit)) && !ASN1_BIT_STRING_set_bit(usage.get(), bit, 1)) {
      return Fail(InternalBoringSslError("encoding keyUsage"));
    }
  }
  if (!X509_add1_ext_i2d(cert_.get(), NID_key_usage, usage.get(), critical, X509V3_ADD_DEFAULT)) {
    return Fail(InternalBoringSslError("adding keyUsage"));
  }
  return *this;
}

CertificateBuilder& CertificateBuilder::AddExtendedKeyUsage(const std::vector<int>& nids,
                                                            bool critical) {
  if (!ok()) return *this;
  bssl::UniquePtr<EXTENDED_KEY_USAGE> eku(sk_ASN1_OBJECT_new_null());
  if (eku == nullptr) return Fail(InternalBoringSslError("sk_ASN1_OBJECT_new_null"));
  for (int nid : nids) {
    ASN1_OBJECT* obj = OBJ_nid2obj(nid);  // static object; freeing it is a no-op
    if (obj == nullptr || !sk_ASN1_OBJECT_push(eku.get(), obj)) {
      return Fail(InternalBoringSslError(absl::StrCat("adding EKU NID ", nid)));
    }
  }
  if (!X509_add1_ext_i2d(cert_.get(), NID_ext_key_usage, eku.get(), critical, X509V3_ADD_DEFAULT)) {
    return Fail(InternalBoringSslError("adding extendedKeyUsage"));
  }
  return *this;
}

CertificateBuilder& CertificateBuilder::AddSubjectAltNames(
    const std::vector<std::string>& uris, const std::vector<std::string>& dns_names, bool critical,
    bool append) {
  if (!ok()) return *this;
  bssl::UniquePtr<GENERAL_NAMES> names(sk_GENERAL_NAME_new_null());
  if (names == nullptr) return Fail(InternalBoringSslError("sk_GENERAL_NAME_new_null"));
  auto add = [&](int type, const std::string& value) {
    bssl::UniquePtr<GENERAL_NAME> name = MakeName(type, value);
    if (name == nullptr || !bssl::PushToStack(names.get(), std::move(name))) return false;
    return true;
  };
  for (const std::string& uri : uris) {
    if (!add(GEN_URI, uri)) return Fail(InternalBoringSslError("encoding a URI SAN"));
  }
  for (const std::string& dns : dns_names) {
    if (!add(GEN_DNS, dns)) return Fail(InternalBoringSslError("encoding a DNS SAN"));
  }
  if (!X509_add1_ext_i2d(cert_.get(), NID_subject_alt_name, names.get(), critical,
                         append ? X509V3_ADD_APPEND : X509V3_ADD_DEFAULT)) {
    return Fail(InternalBoringSslError("adding subjectAltName"));
  }
  return *this;
}

CertificateBuilder& CertificateBuilder::AddSubjectKeyId() {
  if (!ok()) return *this;
  const std::string key_id = KeyIdOf(cert_.get());
  bssl::UniquePtr<ASN1_OCTET_STRING> ski(ASN1_OCTET_STRING_new());
  if (key_id.empty() || ski == nullptr ||
      !ASN1_OCTET_STRING_set(ski.get(), reinterpret_cast<const uint8_t*>(key_id.data()),
                             static_cast<int>(key_id.size())) ||
      !X509_add1_ext_i2d(cert_.get(), NID_subject_key_identifier, ski.get(), 0,
                         X509V3_ADD_DEFAULT)) {
    return Fail(InternalBoringSslError("adding subjectKeyIdentifier (is the public key set?)"));
  }
  return *this;
}

CertificateBuilder& CertificateBuilder::AddAuthorityKeyId(X509* issuer) {
  if (!ok()) return *this;
  std::string key_id;
  if (issuer == nullptr) {
    key_id = KeyIdOf(cert_.get());
  } else if (const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(issuer); ski != nullptr) {
    key_id.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(ski)),
                  static_cast<size_t>(ASN1_STRING_length(ski)));
  } else {
    key_id = KeyIdOf(issuer);
  }
  bssl::UniquePtr<AUTHORITY_KEYID> aki(AUTHORITY_KEYID_new());
  if (key_id.empty() || aki == nullptr) return Fail(InternalBoringSslError("AUTHORITY_KEYID_new"));
  aki->keyid = ASN1_OCTET_STRING_new();
  if (aki->keyid == nullptr ||
      !ASN1_OCTET_STRING_set(aki->keyid, reinterpret_cast<const uint8_t*>(key_id.data()),
                             static_cast<int>(key_id.size())) ||
      !X509_add1_ext_i2d(cert_.get(), NID_authority_key_identifier, aki.get(), 0,
                         X509V3_ADD_DEFAULT)) {
    return Fail(InternalBoringSslError("adding authorityKeyIdentifier"));
  }
  return *this;
}

CertificateBuilder& CertificateBuilder::AddUriNameConstraints(
    const std::vector<std::string>& uri_hosts) {
  if (!ok()) return *this;
  bssl::UniquePtr<NAME_CONSTRAINTS> nc(NAME_CONSTRAINTS_new());
  if (nc == nullptr) return Fail(InternalBoringSslError("NAME_CONSTRAINTS_new"));
  nc->permittedSubtrees = sk_GENERAL_SUBTREE_new_null();
  if (nc->permittedSubtrees == nullptr) return Fail(InternalBoringSslError("permittedSubtrees"));
  for (const std::string& host : uri_hosts) {
    bssl::UniquePtr<GENERAL_SUBTREE> subtree(GENERAL_SUBTREE_new());
    bssl::UniquePtr<GENERAL_NAME> base = MakeName(GEN_URI, host);
    if (subtree == nullptr || base == nullptr) {
      return Fail(InternalBoringSslError("encoding a name constraint"));
    }
    GENERAL_NAME_free(subtree->base);
    subtree->base = base.release();
    if (!bssl::PushToStack(nc->permittedSubtrees, std::move(subtree))) {
      return Fail(InternalBoringSslError("encoding a name constraint"));
    }
  }
  if (!X509_add1_ext_i2d(cert_.get(), NID_name_constraints, nc.get(), 1, X509V3_ADD_DEFAULT)) {
    return Fail(InternalBoringSslError("adding nameConstraints"));
  }
  return *this;
}

CertificateBuilder& CertificateBuilder::AddPrivateExtension(bool critical) {
  if (!ok()) return *this;
  bssl::UniquePtr<ASN1_OBJECT> oid(OBJ_txt2obj("1.3.6.1.4.1.55555.1", /*dont_search_names=*/1));
  bssl::UniquePtr<ASN1_OCTET_STRING> value(ASN1_OCTET_STRING_new());
  static const uint8_t kNull[] = {0x05, 0x00};
  if (oid == nullptr || value == nullptr ||
      !ASN1_OCTET_STRING_set(value.get(), kNull, sizeof(kNull))) {
    return Fail(InternalBoringSslError("encoding a private extension"));
  }
  bssl::UniquePtr<X509_EXTENSION> ext(
      X509_EXTENSION_create_by_OBJ(nullptr, oid.get(), critical, value.get()));
  if (ext == nullptr || !X509_add_ext(cert_.get(), ext.get(), -1)) {
    return Fail(InternalBoringSslError("adding a private extension"));
  }
  return *this;
}

absl::StatusOr<bssl::UniquePtr<X509>> CertificateBuilder::Sign(EVP_PKEY* key,
                                                               const EVP_MD* digest) {
  if (!ok()) return status_;
  if (key == nullptr) return absl::InvalidArgumentError("no signing key");
  if (!X509_sign(cert_.get(), key, digest)) {
    return BoringSslError(absl::StatusCode::kInvalidArgument, "signing the certificate");
  }
  status_ = absl::FailedPreconditionError("CertificateBuilder::Sign called twice");
  return std::move(cert_);
}

}  // namespace identity
}  // namespace palisade
