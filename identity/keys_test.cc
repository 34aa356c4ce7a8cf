#include "identity/keys.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/cipher.h>
#include <openssl/ec_key.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <string>

#include "tests/util/status_matchers.h"
#include "tests/util/test_pki.h"

namespace palisade {
namespace identity {
namespace {

using ::palisade::testing::GenerateKey;
using ::palisade::testing::KeyType;
using ::palisade::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string BioString(BIO* bio) {
  const uint8_t* data = nullptr;
  size_t len = 0;
  BIO_mem_contents(bio, &data, &len);
  return std::string(reinterpret_cast<const char*>(data), len);
}

TEST(KeysTest, GeneratesDistinctP256Keys) {
  ASSERT_OK_AND_ASSIGN(bssl::UniquePtr<EVP_PKEY> a, GenerateP256Key());
  ASSERT_OK_AND_ASSIGN(bssl::UniquePtr<EVP_PKEY> b, GenerateP256Key());
  EXPECT_EQ(DescribeKey(a.get()), "EC P-256");
  EXPECT_NE(EVP_PKEY_cmp(a.get(), b.get()), 1);
}

TEST(KeysTest, RoundTripsPkcs8Pem) {
  ASSERT_OK_AND_ASSIGN(bssl::UniquePtr<EVP_PKEY> key, GenerateP256Key());
  ASSERT_OK_AND_ASSIGN(std::string pem, PrivateKeyToPem(key.get()));
  EXPECT_THAT(pem, StartsWith("-----BEGIN PRIVATE KEY-----\n"));
  ASSERT_OK_AND_ASSIGN(bssl::UniquePtr<EVP_PKEY> parsed, ParsePrivateKeyPem(pem));
  EXPECT_EQ(EVP_PKEY_cmp(parsed.get(), key.get()), 1);
}

TEST(KeysTest, ParsesTraditionalEcAndRsaKeyPem) {
  bssl::UniquePtr<EVP_PKEY> ec = GenerateKey(KeyType::kEcP384);
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  ASSERT_TRUE(PEM_write_bio_ECPrivateKey(bio.get(), EVP_PKEY_get0_EC_KEY(ec.get()), nullptr,
                                         nullptr, 0, nullptr, nullptr));
  const std::string ec_pem = BioString(bio.get());
  EXPECT_THAT(ec_pem, StartsWith("-----BEGIN EC PRIVATE KEY-----"));
  ASSERT_OK_AND_ASSIGN(bssl::UniquePtr<EVP_PKEY> parsed_ec, ParsePrivateKeyPem(ec_pem));
  EXPECT_EQ(EVP_PKEY_cmp(parsed_ec.get(), ec.get()), 1);

  bssl::UniquePtr<EVP_PKEY> rsa = GenerateKey(KeyType::kRsa1024);
  bio.reset(BIO_new(BIO_s_mem()));
  ASSERT_TRUE(PEM_write_bio_RSAPrivateKey(bio.get(), EVP_PKEY_get0_RSA(rsa.get()), nullptr, nullptr,
                                          0, nullptr, nullptr));
  ASSERT_OK_AND_ASSIGN(bssl::UniquePtr<EVP_PKEY> parsed_rsa,
                       ParsePrivateKeyPem(BioString(bio.get())));
  EXPECT_EQ(EVP_PKEY_cmp(parsed_rsa.get(), rsa.get()), 1);
}

TEST(KeysTest, RefusesEncryptedKeysWithoutPrompting) {
  ASSERT_OK_AND_ASSIGN(bssl::UniquePtr<EVP_PKEY> key, GenerateP256Key());
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  char password[] = "secret";
  ASSERT_TRUE(PEM_write_bio_PKCS8PrivateKey(bio.get(), key.get(), EVP_aes_128_cbc(), password,
                                            sizeof(password) - 1, nullptr, nullptr));
  EXPECT_THAT(
      ParsePrivateKeyPem(BioString(bio.get())),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no unencrypted private key")));
}

TEST(KeysTest, RefusesInputWithoutKey) {
  EXPECT_THAT(ParsePrivateKeyPem(""), StatusIs(absl::StatusCode::kInvalidArgument));
  testing::TestPki pki;
  EXPECT_THAT(ParsePrivateKeyPem(pki.BundlePem()), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(KeysTest, MatchesKeyToItsCertificateOnly) {
  testing::TestPki pki;
  testing::Credential leaf = pki.IssueLeaf("/a");
  EXPECT_TRUE(KeyMatchesCertificate(leaf.key.get(), leaf.x509()));
  EXPECT_FALSE(KeyMatchesCertificate(pki.root().key.get(), leaf.x509()));
  EXPECT_FALSE(KeyMatchesCertificate(nullptr, leaf.x509()));
  EXPECT_FALSE(KeyMatchesCertificate(leaf.key.get(), nullptr));
}

TEST(KeysTest, DescribesKeys) {
  EXPECT_EQ(DescribeKey(GenerateKey(KeyType::kEcP224).get()), "EC P-224");
  EXPECT_EQ(DescribeKey(GenerateKey(KeyType::kEcP521).get()), "EC P-521");
  EXPECT_EQ(DescribeKey(GenerateKey(KeyType::kRsa1024).get()), "RSA 1024");
  EXPECT_EQ(DescribeKey(GenerateKey(KeyType::kEd25519).get()), "Ed25519");
  EXPECT_EQ(DescribeKey(nullptr), "no key");
}

TEST(KeysTest, CertificatePolicyAcceptsNistCurvesAndRsa2048) {
  for (KeyType type : {KeyType::kEcP256, KeyType::kEcP384, KeyType::kEcP521, KeyType::kRsa2048}) {
    bssl::UniquePtr<EVP_PKEY> key = GenerateKey(type);
    EXPECT_OK(CheckKeyStrength(key.get(), KeyPolicy::kCertificate)) << DescribeKey(key.get());
  }
}

TEST(KeysTest, CertificatePolicyRejectsWeakKeys) {
  EXPECT_THAT(
      CheckKeyStrength(GenerateKey(KeyType::kRsa1024).get(), KeyPolicy::kCertificate),
      StatusIs(absl::StatusCode::kInvalidArgument, "RSA 1024 key is weaker than 2048 bits"));
  EXPECT_THAT(
      CheckKeyStrength(GenerateKey(KeyType::kEcP224).get(), KeyPolicy::kCertificate),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("EC P-224 key is not allowed")));
  EXPECT_THAT(CheckKeyStrength(GenerateKey(KeyType::kEd25519).get(), KeyPolicy::kCertificate),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("only EC and RSA")));
  EXPECT_THAT(CheckKeyStrength(nullptr, KeyPolicy::kCertificate),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(KeysTest, CsrPolicyAcceptsP256P384AndRsa2048Only) {
  EXPECT_OK(CheckKeyStrength(GenerateKey(KeyType::kEcP256).get(), KeyPolicy::kCsr));
  EXPECT_OK(CheckKeyStrength(GenerateKey(KeyType::kEcP384).get(), KeyPolicy::kCsr));
  EXPECT_OK(CheckKeyStrength(GenerateKey(KeyType::kRsa2048).get(), KeyPolicy::kCsr));
  EXPECT_THAT(CheckKeyStrength(GenerateKey(KeyType::kEcP521).get(), KeyPolicy::kCsr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("P-256 or P-384")));
  EXPECT_THAT(CheckKeyStrength(GenerateKey(KeyType::kRsa1024).get(), KeyPolicy::kCsr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("weaker than 2048")));
}

// A public-only RSA key of `bits` (no primes needed to test size rules).
bssl::UniquePtr<EVP_PKEY> RsaPublicKey(int bits) {
  bssl::UniquePtr<BIGNUM> n(BN_new());
  bssl::UniquePtr<BIGNUM> e(BN_new());
  BN_rand(n.get(), bits, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ODD);
  BN_set_word(e.get(), RSA_F4);
  bssl::UniquePtr<RSA> rsa(RSA_new());
  RSA_set0_key(rsa.get(), n.release(), e.release(), nullptr);
  bssl::UniquePtr<EVP_PKEY> key(EVP_PKEY_new());
  EVP_PKEY_assign_RSA(key.get(), rsa.release());
  return key;
}

TEST(KeysTest, CsrPolicyCapsRsaAt8192BitsButCertificatePolicyDoesNot) {
  EXPECT_OK(CheckKeyStrength(RsaPublicKey(8192).get(), KeyPolicy::kCsr));
  EXPECT_THAT(
      CheckKeyStrength(RsaPublicKey(8200).get(), KeyPolicy::kCsr),
      StatusIs(absl::StatusCode::kInvalidArgument, "RSA 8200 key is larger than 8192 bits"));
  EXPECT_OK(CheckKeyStrength(RsaPublicKey(8200).get(), KeyPolicy::kCertificate));
}

}  // namespace
}  // namespace identity
}  // namespace palisade
