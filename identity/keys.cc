#include "identity/keys.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <climits>
#include <string>

#include "absl/strings/str_cat.h"
#include "identity/boringssl_error.h"

namespace palisade {
namespace identity {
namespace {

constexpr int kMinRsaBits = 2048;
constexpr int kMaxCsrRsaBits = 8192;

// Refuses to decrypt: keys on disk for this project are unencrypted, and a
// passphrase prompt on a terminal would hang a daemon.
int NoPassphrase(char*, int, int, void*) { return 0; }

int CurveOf(const EVP_PKEY* key) {
  const EC_KEY* ec = EVP_PKEY_get0_EC_KEY(key);
  if (ec == nullptr || EC_KEY_get0_group(ec) == nullptr) return NID_undef;
  return EC_GROUP_get_curve_name(EC_KEY_get0_group(ec));
}

std::string CurveName(int nid) {
  switch (nid) {
    case NID_X9_62_prime256v1:
      return "P-256";
    case NID_secp384r1:
      return "P-384";
    case NID_secp521r1:
      return "P-521";
    case NID_secp224r1:
      return "P-224";
    default:
      return absl::StrCat("curve ", nid);
  }
}

}  // namespace

absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> GenerateP256Key() {
  bssl::UniquePtr<EC_KEY> ec(EC_KEY_new_by_curve_name(NID_X9_62_prime256v1));
  if (ec == nullptr || !EC_KEY_generate_key(ec.get())) {
    return InternalBoringSslError("generating a P-256 key");
  }
  bssl::UniquePtr<EVP_PKEY> key(EVP_PKEY_new());
  if (key == nullptr || !EVP_PKEY_assign_EC_KEY(key.get(), ec.get())) {
    return InternalBoringSslError("EVP_PKEY_assign_EC_KEY");
  }
  ec.release();  // owned by `key` now
  return key;
}

absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> ParsePrivateKeyPem(absl::string_view pem) {
  if (pem.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError("PEM input is larger than 2 GiB");
  }
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return InternalBoringSslError("BIO_new_mem_buf");
  bssl::UniquePtr<EVP_PKEY> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  if (key == nullptr) {
    return BoringSslError(absl::StatusCode::kInvalidArgument,
                          "no unencrypted private key found in PEM");
  }
  return key;
}

absl::StatusOr<std::string> PrivateKeyToPem(EVP_PKEY* key) {
  if (key == nullptr) return absl::InvalidArgumentError("no key");
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      !PEM_write_bio_PKCS8PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)) {
    return InternalBoringSslError("encoding the private key as PKCS#8 PEM");
  }
  const uint8_t* contents = nullptr;
  size_t len = 0;
  BIO_mem_contents(bio.get(), &contents, &len);
  return std::string(reinterpret_cast<const char*>(contents), len);
}

bool KeyMatchesCertificate(EVP_PKEY* key, X509* cert) {
  if (key == nullptr || cert == nullptr) return false;
  bssl::UniquePtr<EVP_PKEY> public_key(X509_get_pubkey(cert));
  const bool match = public_key != nullptr && EVP_PKEY_cmp(public_key.get(), key) == 1;
  ERR_clear_error();
  return match;
}

std::string DescribeKey(const EVP_PKEY* key) {
  if (key == nullptr) return "no key";
  switch (EVP_PKEY_id(key)) {
    case EVP_PKEY_EC:
      return absl::StrCat("EC ", CurveName(CurveOf(key)));
    case EVP_PKEY_RSA:
      return absl::StrCat("RSA ", EVP_PKEY_bits(key));
    case EVP_PKEY_ED25519:
      return "Ed25519";
    default:
      return absl::StrCat("key type ", EVP_PKEY_id(key));
  }
}

absl::Status CheckKeyStrength(const EVP_PKEY* key, KeyPolicy policy) {
  if (key == nullptr) return absl::InvalidArgumentError("no public key");
  switch (EVP_PKEY_id(key)) {
    case EVP_PKEY_RSA:
      if (EVP_PKEY_bits(key) < kMinRsaBits) {
        return absl::InvalidArgumentError(
            absl::StrCat(DescribeKey(key), " key is weaker than ", kMinRsaBits, " bits"));
      }
      if (policy == KeyPolicy::kCsr && EVP_PKEY_bits(key) > kMaxCsrRsaBits) {
        return absl::InvalidArgumentError(
            absl::StrCat(DescribeKey(key), " key is larger than ", kMaxCsrRsaBits, " bits"));
      }
      return absl::OkStatus();
    case EVP_PKEY_EC: {
      const int curve = CurveOf(key);
      if (curve == NID_X9_62_prime256v1 || curve == NID_secp384r1) return absl::OkStatus();
      if (curve == NID_secp521r1 && policy == KeyPolicy::kCertificate) return absl::OkStatus();
      return absl::InvalidArgumentError(absl::StrCat(
          DescribeKey(key), " key is not allowed; EC keys must use ",
          policy == KeyPolicy::kCertificate ? "P-256, P-384 or P-521" : "P-256 or P-384"));
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(DescribeKey(key), " key is not allowed; only EC and RSA keys are accepted"));
  }
}

}  // namespace identity
}  // namespace palisade
