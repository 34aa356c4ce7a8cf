#include "identity/certificate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/sha.h>

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "tests/util/status_matchers.h"
#include "tests/util/test_pki.h"

namespace palisade {
namespace identity {
namespace {

using ::palisade::testing::Credential;
using ::palisade::testing::IsOk;
using ::palisade::testing::StatusIs;
using ::palisade::testing::TestPki;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

class CertificateTest : public ::testing::Test {
 protected:
  TestPki pki_{{.trust_domain = "example.org", .now = kNow}};
};

TEST_F(CertificateTest, ParsesEveryCertificateOfAPemBundleInOrderIgnoringText) {
  const std::string pem = absl::StrCat("# bundle for example.org\n", pki_.BundlePem(), "\ntext\n",
                                       CertificateToPem(pki_.intermediate().x509()));
  ASSERT_OK_AND_ASSIGN(std::vector<bssl::UniquePtr<X509>> certs, ParsePemCertificates(pem));
  ASSERT_EQ(certs.size(), 2u);
  EXPECT_EQ(X509_cmp(certs[0].get(), pki_.root().x509()), 0);
  EXPECT_EQ(X509_cmp(certs[1].get(), pki_.intermediate().x509()), 0);
}

TEST_F(CertificateTest, RejectsPemWithoutCertificates) {
  EXPECT_THAT(ParsePemCertificates(""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no PEM \"CERTIFICATE\"")));
  EXPECT_THAT(ParsePemCertificates("just some text\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no PEM \"CERTIFICATE\"")));
}

TEST_F(CertificateTest, RejectsOtherPemBlockTypesByName) {
  Credential leaf = pki_.IssueLeaf("/a");
  EXPECT_THAT(ParsePemCertificates(pki_.BundlePem() + pki_.KeyPem(leaf)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("PEM block 1 is a \"PRIVATE KEY\", not a \"CERTIFICATE\"")));
}

TEST_F(CertificateTest, RejectsCorruptPemBlocks) {
  const std::string good = pki_.BundlePem();
  // Base64 broken in the middle of the body.
  std::string bad_base64 = good;
  bad_base64[good.find('\n') + 10] = '*';
  EXPECT_THAT(ParsePemCertificates(bad_base64), StatusIs(absl::StatusCode::kInvalidArgument));
  // END line missing.
  const std::string truncated = good.substr(0, good.find("-----END"));
  EXPECT_THAT(ParsePemCertificates(truncated), StatusIs(absl::StatusCode::kInvalidArgument));
  // A well-formed block whose DER is not a certificate.
  EXPECT_THAT(ParsePemCertificates("-----BEGIN CERTIFICATE-----\nMAMCAQE=\n"
                                   "-----END CERTIFICATE-----\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("PEM block 0")));
}

TEST_F(CertificateTest, RejectsPemBlocksWithHeaders) {
  std::string pem = pki_.BundlePem();
  pem.insert(pem.find('\n') + 1, "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n");
  EXPECT_THAT(ParsePemCertificates(pem),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("headers")));
}

TEST_F(CertificateTest, RoundTripsDerAndPem) {
  const std::string der = CertificateToDer(pki_.root().x509());
  ASSERT_OK_AND_ASSIGN(bssl::UniquePtr<X509> from_der, ParseDerCertificate(der));
  EXPECT_EQ(X509_cmp(from_der.get(), pki_.root().x509()), 0);
  EXPECT_EQ(CertificateToDer(from_der.get()), der);
  ASSERT_OK_AND_ASSIGN(std::vector<bssl::UniquePtr<X509>> from_pem,
                       ParsePemCertificates(CertificateToPem(from_der.get())));
  EXPECT_EQ(CertificateToDer(from_pem[0].get()), der);
}

TEST_F(CertificateTest, RejectsDerWithTrailingBytesOrGarbage) {
  const std::string der = CertificateToDer(pki_.root().x509());
  EXPECT_THAT(ParseDerCertificate(der + "x"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("trailing bytes")));
  EXPECT_THAT(ParseDerCertificate(der.substr(0, der.size() - 1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not parse")));
  EXPECT_THAT(ParseDerCertificate(""), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(CertificateTest, FingerprintIsLowercaseHexSha256OfDer) {
  const std::string der = CertificateToDer(pki_.root().x509());
  uint8_t md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const uint8_t*>(der.data()), der.size(), md);
  const std::string expected =
      absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(md), sizeof(md)));
  EXPECT_EQ(Sha256Fingerprint(pki_.root().x509()), expected);
  EXPECT_THAT(expected, MatchesRegex("[0-9a-f]{64}"));
}

TEST_F(CertificateTest, SerialHexIsLowercaseMagnitudeWithoutLeadingZeros) {
  Credential leaf = pki_.IssueLeaf("/a");
  bssl::UniquePtr<BIGNUM> bn(BN_new());
  BN_set_word(bn.get(), 0xff10);
  bssl::UniquePtr<ASN1_INTEGER> serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  ASSERT_TRUE(X509_set_serialNumber(leaf.x509(), serial.get()));
  EXPECT_EQ(SerialHex(leaf.x509()), "ff10");
  BN_set_negative(bn.get(), 1);
  serial.reset(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  ASSERT_TRUE(X509_set_serialNumber(leaf.x509(), serial.get()));
  EXPECT_EQ(SerialHex(leaf.x509()), "-ff10");
}

TEST_F(CertificateTest, RandomSerialsAre128BitsAndDistinct) {
  Credential a = pki_.IssueLeaf("/a");
  Credential b = pki_.IssueLeaf("/a");
  EXPECT_NE(SerialHex(a.x509()), SerialHex(b.x509()));
  EXPECT_LE(SerialHex(a.x509()).size(), 32u);
  EXPECT_GE(SerialHex(a.x509()).size(), 20u);  // fails with probability 2^-48
}

TEST_F(CertificateTest, ReadsValidityTimes) {
  testing::CertSpec spec = pki_.LeafSpec("/a");
  spec.not_before = absl::FromUnixSeconds(1600000000);
  spec.not_after = absl::FromUnixSeconds(1600003600);
  Credential leaf = pki_.IssueLeaf(spec);
  EXPECT_EQ(NotBefore(leaf.x509()), absl::FromUnixSeconds(1600000000));
  EXPECT_EQ(NotAfter(leaf.x509()), absl::FromUnixSeconds(1600003600));
}

TEST_F(CertificateTest, ReadsGeneralizedTimesBeyond2049) {
  testing::CertSpec spec = pki_.LeafSpec("/a");
  const absl::Time far =
      absl::FromCivil(absl::CivilSecond(2100, 1, 2, 3, 4, 5), absl::UTCTimeZone());
  spec.not_after = far;
  Credential leaf = pki_.IssueLeaf(spec);
  EXPECT_EQ(NotAfter(leaf.x509()), far);
}

TEST_F(CertificateTest, SpiffeIdOfReadsTheOneUriSan) {
  Credential leaf = pki_.IssueLeaf("/ns/shop/sa/cart");
  ASSERT_OK_AND_ASSIGN(SpiffeId id, SpiffeIdOf(leaf.x509()));
  EXPECT_EQ(id.ToString(), "spiffe://example.org/ns/shop/sa/cart");
}

TEST_F(CertificateTest, SpiffeIdOfIgnoresDnsSansBesideTheUri) {
  testing::CertSpec spec = pki_.LeafSpec("/a");
  spec.dns_sans = {"cart.shop.svc"};
  ASSERT_OK_AND_ASSIGN(SpiffeId id, SpiffeIdOf(pki_.IssueLeaf(spec).x509()));
  EXPECT_EQ(id.path(), "/a");
}

TEST_F(CertificateTest, SpiffeIdOfRejectsMissingSan) {
  testing::CertSpec spec = pki_.LeafSpec("/a");
  spec.uri_sans.clear();
  EXPECT_THAT(SpiffeIdOf(pki_.IssueLeaf(spec).x509()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no URI SAN")));
  spec.dns_sans = {"only.dns.example"};
  EXPECT_THAT(SpiffeIdOf(pki_.IssueLeaf(spec).x509()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no URI SAN")));
}

TEST_F(CertificateTest, SpiffeIdOfRejectsTwoUriSans) {
  testing::CertSpec spec = pki_.LeafSpec("/a");
  spec.uri_sans.push_back("spiffe://example.org/b");
  EXPECT_THAT(SpiffeIdOf(pki_.IssueLeaf(spec).x509()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("has 2 URI SANs")));
}

TEST_F(CertificateTest, SpiffeIdOfRejectsNonSpiffeAndInvalidUris) {
  testing::CertSpec spec = pki_.LeafSpec("/a");
  spec.uri_sans = {"https://example.org/a"};
  EXPECT_THAT(SpiffeIdOf(pki_.IssueLeaf(spec).x509()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("scheme")));
  spec.uri_sans = {"spiffe://example.org/a/../b"};
  EXPECT_THAT(SpiffeIdOf(pki_.IssueLeaf(spec).x509()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'.' or '..'")));
}

TEST_F(CertificateTest, SpiffeIdOfRejectsRepeatedSanExtension) {
  testing::CertSpec spec = pki_.LeafSpec("/a");
  spec.duplicate_san_extension = true;
  EXPECT_THAT(SpiffeIdOf(pki_.IssueLeaf(spec).x509()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("more than one subjectAltName extension")));
}

TEST_F(CertificateTest, SpiffeIdOfRejectsNull) {
  EXPECT_THAT(SpiffeIdOf(nullptr), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace identity
}  // namespace palisade
