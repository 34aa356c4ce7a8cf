#include "tests/util/test_pki.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/x509v3.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "identity/certificate.h"
#include "identity/keys.h"
#include "tests/util/status_matchers.h"

namespace palisade {
namespace testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool SignedBy(X509* cert, X509* issuer) {
  bssl::UniquePtr<EVP_PKEY> key(X509_get_pubkey(issuer));
  return X509_verify(cert, key.get()) == 1;
}

TEST(TestPkiTest, BuildsRootIntermediateAndLeafThatChain) {
  TestPki pki({.trust_domain = "shop.example", .now = kNow});
  Credential leaf = pki.IssueLeaf("/sa/cart");
  EXPECT_TRUE(SignedBy(pki.root().x509(), pki.root().x509()));
  EXPECT_TRUE(SignedBy(pki.intermediate().x509(), pki.root().x509()));
  EXPECT_TRUE(SignedBy(leaf.x509(), pki.intermediate().x509()));
  EXPECT_EQ(pki.Chain(leaf), (std::vector<X509*>{leaf.x509(), pki.intermediate().x509()}));
  ASSERT_OK_AND_ASSIGN(identity::SpiffeId id, identity::SpiffeIdOf(leaf.x509()));
  EXPECT_EQ(id.ToString(), "spiffe://shop.example/sa/cart");
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> root_uris, identity::UriSansOf(pki.root().x509()));
  EXPECT_THAT(root_uris, ElementsAre("spiffe://shop.example"));
  EXPECT_TRUE(identity::KeyMatchesCertificate(leaf.key.get(), leaf.x509()));
}

TEST(TestPkiTest, WithoutIntermediateTheRootIssuesLeaves) {
  TestPki pki({.now = kNow, .with_intermediate = false});
  Credential leaf = pki.IssueLeaf("/a");
  EXPECT_FALSE(pki.has_intermediate());
  EXPECT_TRUE(SignedBy(leaf.x509(), pki.root().x509()));
  EXPECT_EQ(pki.Chain(leaf).size(), 1u);
}

TEST(TestPkiTest, ProducesRequestedDefects) {
  TestPki pki({.now = kNow});
  CertSpec spec = pki.LeafSpec("/a");
  spec.digest = Digest::kSha1;
  EXPECT_EQ(X509_get_signature_nid(pki.IssueLeaf(spec).x509()), NID_ecdsa_with_SHA1);

  spec = pki.LeafSpec("/a");
  spec.key_type = KeyType::kRsa1024;
  EXPECT_EQ(identity::DescribeKey(
                bssl::UniquePtr<EVP_PKEY>(X509_get_pubkey(pki.IssueLeaf(spec).x509())).get()),
            "RSA 1024");

  spec = pki.LeafSpec("/a");
  spec.basic_constraints = BasicConstraints::kCa;
  EXPECT_NE(X509_get_extension_flags(pki.IssueLeaf(spec).x509()) & EXFLAG_CA, 0u);

  spec = pki.LeafSpec("/a");
  spec.extended_key_usage = std::vector<int>{NID_server_auth};
  EXPECT_EQ(X509_get_extended_key_usage(pki.IssueLeaf(spec).x509()),
            static_cast<uint32_t>(XKU_SSL_SERVER));

  spec = pki.LeafSpec("/a");
  spec.not_after = kNow - absl::Hours(1);
  EXPECT_EQ(identity::NotAfter(pki.IssueLeaf(spec).x509()), kNow - absl::Hours(1));

  Credential self_signed = Issue(pki.LeafSpec("/a"), nullptr);
  EXPECT_TRUE(SignedBy(self_signed.x509(), self_signed.x509()));
}

TEST(TestPkiTest, SignsWithMd5OnlyUnderAnRsaIssuer) {
  TestPki pki({.now = kNow, .with_intermediate = false, .ca_key_type = KeyType::kRsa2048});
  CertSpec spec = pki.LeafSpec("/a");
  spec.digest = Digest::kMd5;
  EXPECT_EQ(X509_get_signature_nid(pki.IssueLeaf(spec).x509()), NID_md5WithRSAEncryption);
}

TEST(TestPkiTest, SharesAKeyWhenTheSpecNamesOne) {
  TestPki pki({.now = kNow});
  Credential first = pki.IssueLeaf("/a");
  CertSpec spec = pki.LeafSpec("/b");
  spec.key = first.key.get();
  Credential second = pki.IssueLeaf(spec);
  EXPECT_TRUE(identity::KeyMatchesCertificate(first.key.get(), second.x509()));
}

TEST(TestPkiTest, WritesChainKeyAndBundleFiles) {
  TestPki pki({.now = kNow});
  Credential leaf = pki.IssueLeaf("/a");
  const std::string dir = std::getenv("TEST_TMPDIR");
  const std::string chain_path = pki.WriteFiles(dir, "svc", leaf);
  EXPECT_EQ(chain_path, dir + "/svc.pem");
  ASSERT_OK_AND_ASSIGN(auto chain, identity::ParsePemCertificates(ReadFile(chain_path)));
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(X509_cmp(chain[0].get(), leaf.x509()), 0);
  ASSERT_OK_AND_ASSIGN(auto key, identity::ParsePrivateKeyPem(ReadFile(dir + "/svc.key")));
  EXPECT_TRUE(identity::KeyMatchesCertificate(key.get(), leaf.x509()));
  ASSERT_OK_AND_ASSIGN(auto bundle, identity::ParsePemCertificates(ReadFile(dir + "/bundle.pem")));
  ASSERT_EQ(bundle.size(), 1u);
  EXPECT_EQ(X509_cmp(bundle[0].get(), pki.root().x509()), 0);
}

}  // namespace
}  // namespace testing
}  // namespace palisade
