#include "identity/certificate.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/digest.h>
#include <openssl/err.h>
#include <openssl/mem.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <climits>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "identity/boringssl_error.h"
#include "runtime/status/status_macros.h"

namespace palisade {
namespace identity {
namespace {

constexpr absl::string_view kPemCertificate = "CERTIFICATE";

// Frees what PEM_read_bio allocates.
struct PemBlock {
  char* name = nullptr;
  char* header = nullptr;
  uint8_t* data = nullptr;
  long len = 0;
  ~PemBlock() {
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
  }
};

bool IsEndOfPem() {
  const uint32_t err = ERR_peek_last_error();
  return ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE;
}

std::string LowerHex(const uint8_t* data, size_t len) {
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(data), len));
}

absl::Time AsTime(const ASN1_TIME* t, absl::Time on_error) {
  // ASN1_TIME_diff is the conversion this BoringSSL offers (no ASN1_TIME_to_posix).
  static const ASN1_TIME* const kEpoch = ASN1_TIME_set(nullptr, 0);
  int days = 0;
  int seconds = 0;
  if (t == nullptr || kEpoch == nullptr || !ASN1_TIME_diff(&days, &seconds, kEpoch, t)) {
    ERR_clear_error();
    return on_error;
  }
  return absl::UnixEpoch() + absl::Hours(24) * days + absl::Seconds(seconds);
}

}  // namespace

absl::StatusOr<std::vector<bssl::UniquePtr<X509>>> ParsePemCertificates(absl::string_view pem) {
  if (pem.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError("PEM input is larger than 2 GiB");
  }
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return InternalBoringSslError("BIO_new_mem_buf");
  std::vector<bssl::UniquePtr<X509>> certs;
  ERR_clear_error();
  for (int index = 0;; ++index) {
    PemBlock block;
    if (!PEM_read_bio(bio.get(), &block.name, &block.header, &block.data, &block.len)) {
      if (IsEndOfPem()) {
        ERR_clear_error();
        break;
      }
      return BoringSslError(absl::StatusCode::kInvalidArgument,
                            absl::StrCat("PEM block ", index, " is malformed"));
    }
    if (block.name == nullptr || kPemCertificate != block.name) {
      return absl::InvalidArgumentError(absl::StrCat("PEM block ", index, " is a \"",
                                                     absl::CHexEscape(block.name ? block.name : ""),
                                                     "\", not a \"CERTIFICATE\""));
    }
    if (block.header != nullptr && block.header[0] != '\0') {
      return absl::InvalidArgumentError(
          absl::StrCat("PEM block ", index, " has headers; certificates carry none"));
    }
    absl::StatusOr<bssl::UniquePtr<X509>> cert = ParseDerCertificate(absl::string_view(
        reinterpret_cast<const char*>(block.data), static_cast<size_t>(block.len)));
    if (!cert.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("PEM block ", index, ": ", cert.status().message()));
    }
    certs.push_back(*std::move(cert));
  }
  if (certs.empty()) return absl::InvalidArgumentError("no PEM \"CERTIFICATE\" block found");
  return certs;
}

absl::StatusOr<bssl::UniquePtr<X509>> ParseDerCertificate(absl::string_view der) {
  const uint8_t* p = reinterpret_cast<const uint8_t*>(der.data());
  bssl::UniquePtr<X509> cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (cert == nullptr) {
    return BoringSslError(absl::StatusCode::kInvalidArgument, "certificate DER does not parse");
  }
  if (p != reinterpret_cast<const uint8_t*>(der.data()) + der.size()) {
    return absl::InvalidArgumentError("certificate DER has trailing bytes");
  }
  return cert;
}

std::string CertificateToDer(const X509* cert) {
  uint8_t* der = nullptr;
  const int len = i2d_X509(const_cast<X509*>(cert), &der);
  if (len <= 0) {
    ERR_clear_error();
    return "";
  }
  std::string out(reinterpret_cast<const char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

std::string CertificateToPem(const X509* cert) {
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || !PEM_write_bio_X509(bio.get(), const_cast<X509*>(cert))) {
    ERR_clear_error();
    return "";
  }
  const uint8_t* contents = nullptr;
  size_t len = 0;
  BIO_mem_contents(bio.get(), &contents, &len);
  return std::string(reinterpret_cast<const char*>(contents), len);
}

std::string CertificatesToPem(absl::Span<X509* const> certs) {
  std::string out;
  for (const X509* cert : certs) out += CertificateToPem(cert);
  return out;
}

std::string Sha256Fingerprint(const X509* cert) {
  uint8_t md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  if (!X509_digest(cert, EVP_sha256(), md, &len)) {
    ERR_clear_error();
    return "";
  }
  return LowerHex(md, len);
}

std::string SerialHex(const X509* cert) {
  const ASN1_INTEGER* serial = X509_get0_serialNumber(cert);
  if (serial == nullptr) return "";
  const uint8_t* data = ASN1_STRING_get0_data(serial);
  size_t len = static_cast<size_t>(ASN1_STRING_length(serial));
  while (len > 0 && data[0] == 0) {
    ++data;
    --len;
  }
  std::string hex = len == 0 ? "00" : LowerHex(data, len);
  return ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER ? "-" + hex : hex;
}

absl::Time NotBefore(const X509* cert) {
  return AsTime(X509_get0_notBefore(cert), absl::InfiniteFuture());
}

absl::Time NotAfter(const X509* cert) {
  return AsTime(X509_get0_notAfter(cert), absl::InfinitePast());
}

absl::StatusOr<std::vector<std::string>> UriSansOf(const X509* cert) {
  int critical = -1;
  bssl::UniquePtr<GENERAL_NAMES> names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, &critical, nullptr)));
  std::vector<std::string> uris;
  if (names == nullptr) {
    ERR_clear_error();
    if (critical == -1) return uris;  // no SAN extension
    if (critical == -2) {
      return absl::InvalidArgumentError("certificate has more than one subjectAltName extension");
    }
    return absl::InvalidArgumentError("certificate's subjectAltName extension is malformed");
  }
  for (size_t i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type != GEN_URI) continue;
    const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
    uris.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                      static_cast<size_t>(ASN1_STRING_length(uri)));
  }
  return uris;
}

absl::StatusOr<SpiffeId> SpiffeIdOf(const X509* leaf) {
  if (leaf == nullptr) return absl::InvalidArgumentError("no certificate");
  ASSIGN_OR_RETURN(std::vector<std::string> uris, UriSansOf(leaf));
  if (uris.empty()) {
    return absl::InvalidArgumentError("certificate has no URI SAN; an X.509-SVID has exactly one");
  }
  if (uris.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate has ", uris.size(), " URI SANs; an X.509-SVID has exactly one"));
  }
  return SpiffeId::Parse(uris.front());
}

}  // namespace identity
}  // namespace palisade
