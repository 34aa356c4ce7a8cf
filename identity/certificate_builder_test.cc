#include "identity/certificate_builder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/x509v3.h>

#include <string>

#include "identity/certificate.h"
#include "identity/keys.h"
#include "tests/util/status_matchers.h"

namespace palisade {
namespace identity {
namespace {

using ::palisade::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

std::string Octets(const ASN1_OCTET_STRING* s) {
  if (s == nullptr) return "<none>";
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

class CertificateBuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(key_, GenerateP256Key());
    ASSERT_OK_AND_ASSIGN(leaf_key_, GenerateP256Key());
  }

  absl::StatusOr<bssl::UniquePtr<X509>> SelfSignedCa() {
    CertificateBuilder builder;
    builder.SetRandomSerial()
        .SetSubject({{"O", "Palisade"}, {"CN", "root"}})
        .SetValidity(kNow, kNow + absl::Hours(24))
        .SetPublicKey(key_.get())
        .AddBasicConstraints(/*ca=*/true, /*path_len=*/1, /*critical=*/true)
        .AddKeyUsage(kKeyCertSign | kCrlSign, /*critical=*/true)
        .AddSubjectAltNames({"spiffe://example.org"}, {}, /*critical=*/false)
        .AddSubjectKeyId()
        .AddAuthorityKeyId(nullptr)
        .AddUriNameConstraints({"example.org"});
    return builder.Sign(key_.get(), EVP_sha256());
  }

  bssl::UniquePtr<EVP_PKEY> key_;
  bssl::UniquePtr<EVP_PKEY> leaf_key_;
};

TEST_F(CertificateBuilderTest, BuildsASelfSignedCaWithEveryRequestedExtension) {
  ASSERT_OK_AND_ASSIGN(bssl::UniquePtr<X509> ca, SelfSignedCa());
  X509* x = ca.get();
  EXPECT_EQ(X509_get_version(x), X509_VERSION_3);
  EXPECT_EQ(X509_get_extension_flags(x) & EXFLAG_INVALID, 0u);
  EXPECT_NE(X509_get_extension_flags(x) & EXFLAG_CA, 0u);
  EXPECT_NE(X509_get_extension_flags(x) & EXFLAG_SS, 0u);
  EXPECT_EQ(X509_get_pathlen(x), 1);
  EXPECT_EQ(X509_get_key_usage(x), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  EXPECT_EQ(X509_check_ca(x), 1);
  EXPECT_EQ(Octets(X509_get0_subject_key_id(x)), KeyIdOf(x));
  EXPECT_EQ(Octets(X509_get0_authority_key_id(x)), KeyIdOf(x));
  EXPECT_EQ(KeyIdOf(x).size(), 20u);
  int critical = -1;
  bssl::UniquePtr<NAME_CONSTRAINTS> nc(static_cast<NAME_CONSTRAINTS*>(
      X509_get_ext_d2i(x, NID_name_constraints, &critical, nullptr)));
  ASSERT_NE(nc, nullptr);
  EXPECT_EQ(critical, 1);
  ASSERT_EQ(sk_GENERAL_SUBTREE_num(nc->permittedSubtrees), 1u);
  EXPECT_EQ(sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, 0)->base->type, GEN_URI);
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> uris, UriSansOf(x));
  EXPECT_THAT(uris, ElementsAre("spiffe://example.org"));
  bssl::UniquePtr<EVP_PKEY> public_key(X509_get_pubkey(x));
  EXPECT_EQ(X509_verify(x, public_key.get()), 1);
  EXPECT_EQ(NotBefore(x), kNow);
  EXPECT_EQ(NotAfter(x), kNow + absl::Hours(24));
}

TEST_F(CertificateBuilderTest, BuildsALeafLinkedToItsIssuerByKeyId) {
  ASSERT_OK_AND_ASSIGN(bssl::UniquePtr<X509> ca, SelfSignedCa());
  CertificateBuilder builder;
  builder.SetRandomSerial()
      .SetSubject({{"O", "Palisade"}})
      .SetIssuerName(ca.get())
      .SetValidity(kNow, kNow + absl::Hours(1))
      .SetPublicKey(leaf_key_.get())
      .AddBasicConstraints(/*ca=*/false, -1, /*critical=*/true)
      .AddKeyUsage(kDigitalSignature, /*critical=*/true)
      .AddExtendedKeyUsage({NID_server_auth, NID_client_auth}, /*critical=*/false)
      .AddSubjectAltNames({"spiffe://example.org/a"}, {"a.example"}, /*critical=*/false)
      .AddSubjectKeyId()
      .AddAuthorityKeyId(ca.get());
  ASSERT_OK_AND_ASSIGN(bssl::UniquePtr<X509> leaf, builder.Sign(key_.get(), EVP_sha256()));
  X509* x = leaf.get();
  EXPECT_EQ(X509_get_extension_flags(x) & (EXFLAG_CA | EXFLAG_INVALID), 0u);
  EXPECT_NE(X509_get_extension_flags(x) & EXFLAG_BCONS, 0u);
  EXPECT_EQ(X509_get_key_usage(x), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(X509_get_extended_key_usage(x), static_cast<uint32_t>(XKU_SSL_SERVER | XKU_SSL_CLIENT));
  EXPECT_EQ(Octets(X509_get0_authority_key_id(x)), Octets(X509_get0_subject_key_id(ca.get())));
  EXPECT_EQ(X509_check_issued(ca.get(), x), X509_V_OK);
  EXPECT_EQ(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
  bssl::UniquePtr<EVP_PKEY> ca_key(X509_get_pubkey(ca.get()));
  EXPECT_EQ(X509_verify(x, ca_key.get()), 1);
}

TEST_F(CertificateBuilderTest, CopiesASubjectPublicKeyInfoAsIs) {
  uint8_t* der = nullptr;
  const int len = i2d_PUBKEY(leaf_key_.get(), &der);
  ASSERT_GT(len, 0);
  const std::string spki(reinterpret_cast<const char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  CertificateBuilder builder;
  builder.SetRandomSerial().SetValidity(kNow, kNow + absl::Hours(1)).SetPublicKeyInfo(spki);
  ASSERT_OK_AND_ASSIGN(bssl::UniquePtr<X509> cert, builder.Sign(key_.get(), EVP_sha256()));
  EXPECT_TRUE(KeyMatchesCertificate(leaf_key_.get(), cert.get()));
  ASSERT_OK_AND_ASSIGN(bssl::UniquePtr<X509> reparsed,
                       ParseDerCertificate(CertificateToDer(cert.get())));
  EXPECT_TRUE(KeyMatchesCertificate(leaf_key_.get(), reparsed.get()));

  CertificateBuilder bad;
  bad.SetPublicKeyInfo(spki + "x");
  EXPECT_THAT(bad.Sign(key_.get(), EVP_sha256()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("SubjectPublicKeyInfo")));
}

TEST_F(CertificateBuilderTest, MarksAPrivateCriticalExtensionAsUnsupported) {
  CertificateBuilder builder;
  builder.SetRandomSerial().SetValidity(kNow, kNow + absl::Hours(1)).SetPublicKey(key_.get());
  builder.AddPrivateExtension(/*critical=*/true);
  ASSERT_OK_AND_ASSIGN(bssl::UniquePtr<X509> cert, builder.Sign(key_.get(), EVP_sha256()));
  EXPECT_NE(X509_get_extension_flags(cert.get()) & EXFLAG_CRITICAL, 0u);
}

TEST_F(CertificateBuilderTest, ReportsTheFirstErrorAtSign) {
  CertificateBuilder builder;
  builder.SetRandomSerial()
      .SetValidity(absl::InfinitePast(), kNow)
      .SetPublicKey(nullptr);  // second error, ignored
  EXPECT_THAT(builder.Sign(key_.get(), EVP_sha256()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("validity time")));
}

TEST_F(CertificateBuilderTest, RefusesToSignWithoutAKeyOrTwice) {
  CertificateBuilder builder;
  builder.SetRandomSerial().SetValidity(kNow, kNow + absl::Hours(1)).SetPublicKey(key_.get());
  EXPECT_THAT(builder.Sign(nullptr, EVP_sha256()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no signing key")));
  EXPECT_OK(builder.Sign(key_.get(), EVP_sha256()));
  EXPECT_THAT(builder.Sign(key_.get(), EVP_sha256()),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace identity
}  // namespace palisade
