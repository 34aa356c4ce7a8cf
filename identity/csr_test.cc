#include "identity/csr.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/mem.h>

#include <cstdlib>
#include <string>

#include "identity/keys.h"
#include "tests/util/status_matchers.h"
#include "tests/util/subprocess.h"
#include "tests/util/test_pki.h"

namespace palisade {
namespace identity {
namespace {

using ::palisade::testing::CsrSpec;
using ::palisade::testing::Digest;
using ::palisade::testing::GenerateKey;
using ::palisade::testing::KeyType;
using ::palisade::testing::MakeCsrDer;
using ::palisade::testing::StatusIs;
using ::testing::HasSubstr;

const char kId[] = "spiffe://shop.example/ns/shop/sa/cart";

class CsrTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK_AND_ASSIGN(key_, GenerateP256Key()); }

  static void ExpectRejected(absl::string_view der, absl::string_view rule) {
    EXPECT_THAT(ParseAndCheckCsr(der),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(std::string(rule))));
  }

  bssl::UniquePtr<EVP_PKEY> key_;
};

TEST_F(CsrTest, CreatedCsrChecksBackToTheSameIdAndKey) {
  ASSERT_OK_AND_ASSIGN(std::string der, CreateCsrDer(key_.get(), *SpiffeId::Parse(kId)));
  ASSERT_OK_AND_ASSIGN(CheckedCsr csr, ParseAndCheckCsr(der));
  EXPECT_EQ(csr.spiffe_id.ToString(), kId);
  EXPECT_EQ(EVP_PKEY_cmp(csr.public_key.get(), key_.get()), 1);
  uint8_t* spki = nullptr;
  const int len = i2d_PUBKEY(key_.get(), &spki);
  ASSERT_GT(len, 0);
  EXPECT_EQ(csr.public_key_info,
            std::string(reinterpret_cast<const char*>(spki), static_cast<size_t>(len)));
  OPENSSL_free(spki);
}

TEST_F(CsrTest, AcceptsP384AndRsa2048Keys) {
  for (KeyType type : {KeyType::kEcP384, KeyType::kRsa2048}) {
    bssl::UniquePtr<EVP_PKEY> key = GenerateKey(type);
    ASSERT_OK_AND_ASSIGN(std::string der, CreateCsrDer(key.get(), *SpiffeId::Parse(kId)));
    EXPECT_OK(ParseAndCheckCsr(der)) << DescribeKey(key.get());
  }
}

TEST_F(CsrTest, AcceptsDnsSansBesideTheOneUri) {
  EXPECT_OK(ParseAndCheckCsr(MakeCsrDer({.uri_sans = {kId}, .dns_sans = {"cart"}}, key_.get())));
}

TEST_F(CsrTest, CreateRefusesAMissingKey) {
  EXPECT_THAT(CreateCsrDer(nullptr, *SpiffeId::Parse(kId)),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(CsrTest, OpensslReadsOurCsrAndItsUriSan) {
  ASSERT_OK_AND_ASSIGN(std::string der, CreateCsrDer(key_.get(), *SpiffeId::Parse(kId)));
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/req.der";
  testing::WriteFileOrDie(path, der);
  testing::CommandResult result = testing::RunCommand(
      {"/usr/bin/openssl", "req", "-inform", "DER", "-in", path, "-verify", "-noout", "-text"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("verify OK"));
  EXPECT_THAT(result.output, HasSubstr(std::string("URI:") + kId));
  EXPECT_THAT(result.output, HasSubstr("ecdsa-with-SHA256"));
}

TEST_F(CsrTest, RejectsGarbageTrailingBytesAndOversizeInput) {
  ExpectRejected("", "DER does not parse");
  ExpectRejected("\x30\x03\x02\x01\x00", "DER does not parse");
  ASSERT_OK_AND_ASSIGN(std::string der, CreateCsrDer(key_.get(), *SpiffeId::Parse(kId)));
  ExpectRejected(der + "x", "trailing bytes");
  ExpectRejected(std::string(kMaxCsrSize + 1, '\x30'), "larger than 16384 bytes");
}

TEST_F(CsrTest, RejectsASignatureThatDoesNotVerify) {
  ExpectRejected(MakeCsrDer({.uri_sans = {kId}, .corrupt_signature = true}, key_.get()),
                 "signature does not verify");
}

TEST_F(CsrTest, RejectsSha1AndMd5Signatures) {
  ExpectRejected(MakeCsrDer({.uri_sans = {kId}, .digest = Digest::kSha1}, key_.get()),
                 "signed with ecdsa-with-SHA1");
  bssl::UniquePtr<EVP_PKEY> rsa = GenerateKey(KeyType::kRsa2048);
  ExpectRejected(MakeCsrDer({.uri_sans = {kId}, .digest = Digest::kMd5}, rsa.get()),
                 "signed with RSA-MD5");
}

TEST_F(CsrTest, RejectsUnacceptableKeys) {
  ExpectRejected(MakeCsrDer({.uri_sans = {kId}}, GenerateKey(KeyType::kRsa1024).get()),
                 "RSA 1024 key is weaker than 2048 bits");
  ExpectRejected(MakeCsrDer({.uri_sans = {kId}}, GenerateKey(KeyType::kEcP224).get()),
                 "EC P-224 key is not allowed");
  ExpectRejected(MakeCsrDer({.uri_sans = {kId}}, GenerateKey(KeyType::kEcP521).get()),
                 "EC P-521 key is not allowed");
  ExpectRejected(MakeCsrDer({.uri_sans = {kId}}, GenerateKey(KeyType::kEd25519).get()),
                 "Ed25519 key is not allowed");
}

TEST_F(CsrTest, RejectsCsrWithoutSanRequest) {
  ExpectRejected(MakeCsrDer({}, key_.get()), "has no URI SAN");
}

TEST_F(CsrTest, RejectsCsrWithoutUriOrWithTwo) {
  ExpectRejected(MakeCsrDer({.dns_sans = {"cart"}}, key_.get()), "requests 0 URI SANs");
  ExpectRejected(MakeCsrDer({.uri_sans = {kId, "spiffe://shop.example/other"}}, key_.get()),
                 "requests 2 URI SANs");
}

TEST_F(CsrTest, RejectsTwoSanExtensionRequests) {
  ExpectRejected(MakeCsrDer({.uri_sans = {kId}, .duplicate_san_extension = true}, key_.get()),
                 "more than one subjectAltName extension");
}

TEST_F(CsrTest, RejectsInvalidSpiffeIds) {
  ExpectRejected(MakeCsrDer({.uri_sans = {"https://shop.example/a"}}, key_.get()), "scheme");
  ExpectRejected(MakeCsrDer({.uri_sans = {"spiffe://shop.example/a/../b"}}, key_.get()),
                 "CSR: invalid SPIFFE ID");
  ExpectRejected(MakeCsrDer({.uri_sans = {"spiffe://shop.example:443/a"}}, key_.get()),
                 "port is not allowed");
}

TEST_F(CsrTest, RejectsABareTrustDomainId) {
  ExpectRejected(MakeCsrDer({.uri_sans = {"spiffe://shop.example"}}, key_.get()),
                 "CSR: SPIFFE ID spiffe://shop.example has no path (X509-SVID section 3");
}

}  // namespace
}  // namespace identity
}  // namespace palisade
