// Private keys: P-256 generation, PEM encoding, and the key-strength rules that
// verification and CSR checking apply to public keys.
#ifndef PALISADE_IDENTITY_KEYS_H_
#define PALISADE_IDENTITY_KEYS_H_

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace palisade {
namespace identity {

// A fresh ECDSA P-256 key pair from BoringSSL's CSPRNG.
absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> GenerateP256Key();

// The first private key in `pem` ("PRIVATE KEY" (PKCS#8), "EC PRIVATE KEY" or
// "RSA PRIVATE KEY"). Encrypted keys are refused (no passphrase is ever asked for).
absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> ParsePrivateKeyPem(absl::string_view pem);

// Unencrypted PKCS#8 PEM ("PRIVATE KEY"). Only for CA state and tests: a workload's
// key never leaves its process.
absl::StatusOr<std::string> PrivateKeyToPem(EVP_PKEY* key);

// True when `cert`'s public key is the public half of `key`.
bool KeyMatchesCertificate(EVP_PKEY* key, X509* cert);

// "EC P-256", "EC P-224", "RSA 2048", "Ed25519", "key type 6" ...
std::string DescribeKey(const EVP_PKEY* key);

// Which keys a rule set accepts.
enum class KeyPolicy {
  // Keys on a certificate path: RSA >= 2048 bits; EC on P-256, P-384 or P-521.
  kCertificate,
  // Keys a workload may ask the CA to certify: RSA 2048-8192 bits (the cap bounds
  // what checking a request's signature costs); EC on P-256 or P-384.
  kCsr,
};

// OK when `key` is acceptable under `policy`; otherwise InvalidArgument naming the
// rule, e.g. "RSA 1024 key is weaker than 2048 bits".
absl::Status CheckKeyStrength(const EVP_PKEY* key, KeyPolicy policy);

}  // namespace identity
}  // namespace palisade

#endif  // PALISADE_IDENTITY_KEYS_H_
