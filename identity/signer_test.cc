#include "identity/signer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/nid.h>
#include <openssl/x509v3.h>

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "identity/certificate.h"
#include "identity/certificate_builder.h"
#include "identity/keys.h"
#include "identity/svid_verifier.h"
#include "identity/trust_bundle.h"
#include "tests/util/status_matchers.h"
#include "tests/util/subprocess.h"
#include "tests/util/test_pki.h"

namespace palisade {
namespace identity {
namespace {

using ::palisade::testing::KeyType;
using ::palisade::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1700000000);
const char kTrustDomain[] = "shop.example";

// Whether extension `nid` is present and critical: -1 absent, 0 or 1.
int Criticality(X509* cert, int nid) {
  const int index = X509_get_ext_by_NID(cert, nid, -1);
  if (index < 0) return -1;
  return X509_EXTENSION_get_critical(X509_get_ext(cert, index));
}

std::string Octets(const ASN1_OCTET_STRING* s) {
  if (s == nullptr) return "<none>";
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

class SignerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(root_key_, GenerateP256Key());
    ASSERT_OK_AND_ASSIGN(intermediate_key_, GenerateP256Key());
    ASSERT_OK_AND_ASSIGN(workload_key_, GenerateP256Key());
    ASSERT_OK_AND_ASSIGN(root_, CreateSelfSignedRoot(root_key_.get(), RootOptions()));
    ASSERT_OK_AND_ASSIGN(intermediate_, CreateIntermediate(intermediate_key_.get(), RootIssuer(),
                                                           {.trust_domain = kTrustDomain,
                                                            .common_name = "issuing CA",
                                                            .now = kNow,
                                                            .ttl = absl::Hours(24 * 7),
                                                            .path_len = 0}));
  }

  static CaOptions RootOptions() {
    return {.trust_domain = kTrustDomain,
            .common_name = "shop root",
            .now = kNow,
            .ttl = absl::Hours(24 * 365),
            .path_len = 1,
            .name_constrain_to_trust_domain = true};
  }
  Issuer RootIssuer() const { return {root_.get(), root_key_.get()}; }
  Issuer IntermediateIssuer() const { return {intermediate_.get(), intermediate_key_.get()}; }

  CheckedCsr Csr(absl::string_view id) const {
    absl::StatusOr<std::string> der = CreateCsrDer(workload_key_.get(), *SpiffeId::Parse(id));
    return *ParseAndCheckCsr(*der);
  }

  TrustBundleSet Bundle() const {
    TrustBundleSet::Builder builder;
    EXPECT_OK(builder.Add(kTrustDomain, root_.get()));
    return builder.Build();
  }

  bssl::UniquePtr<EVP_PKEY> root_key_, intermediate_key_, workload_key_;
  bssl::UniquePtr<X509> root_, intermediate_;
};

TEST_F(SignerTest, IssuedSvidVerifiesAgainstTheRoot) {
  ASSERT_OK_AND_ASSIGN(bssl::UniquePtr<X509> leaf, IssueSvid(Csr("spiffe://shop.example/sa/cart"),
                                                             IntermediateIssuer(), {.now = kNow}));
  for (PeerRole role : {PeerRole::kClient, PeerRole::kServer}) {
    SvidVerification result = VerifySvidChain({leaf.get(), intermediate_.get()}, Bundle(),
                                              {.now = kNow, .peer_role = role});
    ASSERT_TRUE(result.ok()) << result.detail;
    EXPECT_EQ(result.svid->spiffe_id.ToString(), "spiffe://shop.example/sa/cart");
  }
}

TEST_F(SignerTest, IssuedSvidHasExactlyTheSvidProfile) {
  ASSERT_OK_AND_ASSIGN(
      bssl::UniquePtr<X509> leaf,
      IssueSvid(Csr("spiffe://shop.example/sa/cart"), IntermediateIssuer(),
                {.now = kNow, .ttl = absl::Minutes(10), .backdate = absl::Seconds(45)}));
  X509* x = leaf.get();
  EXPECT_EQ(X509_get_version(x), X509_VERSION_3);
  EXPECT_EQ(NotBefore(x), kNow - absl::Seconds(45));
  EXPECT_EQ(NotAfter(x), kNow + absl::Minutes(10));
  EXPECT_EQ(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
  EXPECT_TRUE(KeyMatchesCertificate(workload_key_.get(), x));
  // basicConstraints CA:false, critical.
  EXPECT_EQ(Criticality(x, NID_basic_constraints), 1);
  EXPECT_EQ(X509_get_extension_flags(x) & (EXFLAG_CA | EXFLAG_INVALID), 0u);
  // keyUsage digitalSignature only, critical.
  EXPECT_EQ(Criticality(x, NID_key_usage), 1);
  EXPECT_EQ(X509_get_key_usage(x), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  // EKU serverAuth + clientAuth.
  EXPECT_EQ(X509_get_extended_key_usage(x), static_cast<uint32_t>(XKU_SSL_SERVER | XKU_SSL_CLIENT));
  // SAN: the one URI.
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> uris, UriSansOf(x));
  EXPECT_THAT(uris, ElementsAre("spiffe://shop.example/sa/cart"));
  // SKI of its own key; AKI = the issuer's SKI.
  EXPECT_EQ(Octets(X509_get0_subject_key_id(x)), KeyIdOf(x));
  EXPECT_EQ(Octets(X509_get0_authority_key_id(x)),
            Octets(X509_get0_subject_key_id(intermediate_.get())));
  // Nothing else.
  EXPECT_EQ(X509_get_ext_count(x), 6);
  // Serial: positive, at most 128 bits (17 DER bytes with a sign byte).
  const ASN1_INTEGER* serial = X509_get0_serialNumber(x);
  EXPECT_EQ(ASN1_STRING_type(serial), V_ASN1_INTEGER);
  EXPECT_LE(ASN1_STRING_length(serial), 16);
  EXPECT_GE(ASN1_STRING_length(serial), 8);
}

TEST_F(SignerTest, CopiesTheRequestedKeyBytesOrEncodesAHandMadeKey) {
  CheckedCsr csr = Csr("spiffe://shop.example/a");
  ASSERT_FALSE(csr.public_key_info.empty());
  ASSERT_OK_AND_ASSIGN(auto from_spki, IssueSvid(csr, IntermediateIssuer(), {.now = kNow}));
  EXPECT_TRUE(KeyMatchesCertificate(workload_key_.get(), from_spki.get()));

  csr.public_key_info.clear();
  ASSERT_OK_AND_ASSIGN(auto encoded, IssueSvid(csr, IntermediateIssuer(), {.now = kNow}));
  EXPECT_TRUE(KeyMatchesCertificate(workload_key_.get(), encoded.get()));
  // Both ways give the same SubjectPublicKeyInfo, hence the same SKI.
  EXPECT_EQ(KeyIdOf(from_spki.get()), KeyIdOf(encoded.get()));
}

TEST_F(SignerTest, RefusesACheckedCsrWhoseKeyBytesAreAnotherKey) {
  CheckedCsr csr = Csr("spiffe://shop.example/a");
  csr.public_key = bssl::UpRef(root_key_);
  EXPECT_THAT(IssueSvid(csr, IntermediateIssuer(), {.now = kNow}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("public_key_info")));
}

TEST_F(SignerTest, SerialsAreRandomPerIssuance) {
  CheckedCsr csr = Csr("spiffe://shop.example/a");
  ASSERT_OK_AND_ASSIGN(auto a, IssueSvid(csr, IntermediateIssuer(), {.now = kNow}));
  ASSERT_OK_AND_ASSIGN(auto b, IssueSvid(csr, IntermediateIssuer(), {.now = kNow}));
  EXPECT_NE(SerialHex(a.get()), SerialHex(b.get()));
}

TEST_F(SignerTest, NeverIssuesBeyondTheIssuersNotAfter) {
  ASSERT_OK_AND_ASSIGN(bssl::UniquePtr<X509> leaf,
                       IssueSvid(Csr("spiffe://shop.example/a"), IntermediateIssuer(),
                                 {.now = kNow, .ttl = absl::Hours(24 * 30)}));
  EXPECT_EQ(NotAfter(leaf.get()), NotAfter(intermediate_.get()));
  EXPECT_EQ(NotAfter(intermediate_.get()), kNow + absl::Hours(24 * 7));
}

TEST_F(SignerTest, RefusesIdsOutsideTheIssuersTrustDomain) {
  EXPECT_THAT(IssueSvid(Csr("spiffe://bank.example/a"), IntermediateIssuer(), {.now = kNow}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not in the issuer's trust domain \"shop.example\"")));
}

TEST_F(SignerTest, RefusesIssuersThatCannotIssue) {
  CheckedCsr csr = Csr("spiffe://shop.example/a");
  EXPECT_THAT(IssueSvid(csr, {intermediate_.get(), root_key_.get()}, {.now = kNow}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("does not match")));
  ASSERT_OK_AND_ASSIGN(bssl::UniquePtr<X509> leaf,
                       IssueSvid(csr, IntermediateIssuer(), {.now = kNow}));
  EXPECT_THAT(IssueSvid(csr, {leaf.get(), workload_key_.get()}, {.now = kNow}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not a CA")));
  EXPECT_THAT(IssueSvid(csr, {nullptr, nullptr}, {.now = kNow}),
              StatusIs(absl::StatusCode::kInvalidArgument));

  testing::CertSpec spec = testing::IntermediateSpec(kTrustDomain, kNow);
  spec.key_usage = kDigitalSignature;
  testing::Credential no_cert_sign = testing::Issue(spec, nullptr);
  EXPECT_THAT(IssueSvid(csr, {no_cert_sign.x509(), no_cert_sign.key.get()}, {.now = kNow}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("keyCertSign")));
}

TEST_F(SignerTest, RefusesExpiredOrNotYetValidIssuers) {
  CheckedCsr csr = Csr("spiffe://shop.example/a");
  EXPECT_THAT(IssueSvid(csr, IntermediateIssuer(), {.now = kNow + absl::Hours(24 * 8)}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("expired")));
  EXPECT_THAT(IssueSvid(csr, IntermediateIssuer(), {.now = kNow - absl::Seconds(1)}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not yet valid")));
}

TEST_F(SignerTest, RefusesToIssueALeafForABareTrustDomainId) {
  // A hand-made CheckedCsr skips ParseAndCheckCsr; the signer is the last gate.
  CheckedCsr csr{*SpiffeId::Parse("spiffe://shop.example"), testing::GenerateKey(KeyType::kEcP256)};
  EXPECT_THAT(IssueSvid(csr, IntermediateIssuer(), {.now = kNow}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("spiffe://shop.example has no path (X509-SVID section 3")));
}

TEST_F(SignerTest, RefusesBadLeafOptionsAndWeakCsrKeys) {
  CheckedCsr csr = Csr("spiffe://shop.example/a");
  EXPECT_THAT(IssueSvid(csr, IntermediateIssuer(), {.now = kNow, .ttl = absl::ZeroDuration()}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ttl")));
  EXPECT_THAT(IssueSvid(csr, IntermediateIssuer(), {.now = kNow, .backdate = -absl::Seconds(1)}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("backdate")));
  CheckedCsr weak{*SpiffeId::Parse("spiffe://shop.example/a"),
                  testing::GenerateKey(KeyType::kRsa1024)};
  EXPECT_THAT(IssueSvid(weak, IntermediateIssuer(), {.now = kNow}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("CSR key: RSA 1024")));
}

TEST_F(SignerTest, RootHasTheCaProfile) {
  X509* x = root_.get();
  EXPECT_EQ(X509_NAME_get_index_by_NID(X509_get_subject_name(x), NID_commonName, -1), 1);
  EXPECT_NE(X509_get_extension_flags(x) & EXFLAG_SS, 0u);
  EXPECT_EQ(Criticality(x, NID_basic_constraints), 1);
  EXPECT_NE(X509_get_extension_flags(x) & EXFLAG_CA, 0u);
  EXPECT_EQ(X509_get_pathlen(x), 1);
  EXPECT_EQ(Criticality(x, NID_key_usage), 1);
  EXPECT_EQ(X509_get_key_usage(x), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  EXPECT_EQ(Criticality(x, NID_name_constraints), 1);
  EXPECT_EQ(Criticality(x, NID_ext_key_usage), -1);
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> uris, UriSansOf(x));
  EXPECT_THAT(uris, ElementsAre("spiffe://shop.example"));
  EXPECT_EQ(Octets(X509_get0_subject_key_id(x)), KeyIdOf(x));
  EXPECT_EQ(Octets(X509_get0_authority_key_id(x)), KeyIdOf(x));
  EXPECT_EQ(NotBefore(x), kNow);
  EXPECT_EQ(NotAfter(x), kNow + absl::Hours(24 * 365));
  EXPECT_EQ(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
}

TEST_F(SignerTest, RootWithoutOptionalsHasNoPathLenOrNameConstraints) {
  CaOptions options = RootOptions();
  options.path_len = -1;
  options.name_constrain_to_trust_domain = false;
  options.common_name = "";
  ASSERT_OK_AND_ASSIGN(bssl::UniquePtr<X509> root, CreateSelfSignedRoot(root_key_.get(), options));
  EXPECT_EQ(X509_get_pathlen(root.get()), -1);
  EXPECT_EQ(Criticality(root.get(), NID_name_constraints), -1);
  char cn[128];
  X509_NAME_get_text_by_NID(X509_get_subject_name(root.get()), NID_commonName, cn, sizeof(cn));
  EXPECT_EQ(std::string(cn), "shop.example CA");
}

TEST_F(SignerTest, RefusesBadCaOptions) {
  CaOptions options = RootOptions();
  options.trust_domain = "Shop";
  EXPECT_THAT(CreateSelfSignedRoot(root_key_.get(), options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("lowercase")));
  options = RootOptions();
  options.common_name = std::string(65, 'c');
  EXPECT_THAT(CreateSelfSignedRoot(root_key_.get(), options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("common_name")));
  options = RootOptions();
  options.ttl = absl::ZeroDuration();
  EXPECT_THAT(CreateSelfSignedRoot(root_key_.get(), options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ttl")));
  EXPECT_THAT(CreateSelfSignedRoot(testing::GenerateKey(KeyType::kRsa1024).get(), RootOptions()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("CA key: RSA 1024")));
  EXPECT_THAT(CreateSelfSignedRoot(nullptr, RootOptions()),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(SignerTest, IntermediateIsLinkedToTheRootAndClampedToIt) {
  X509* x = intermediate_.get();
  EXPECT_EQ(X509_check_issued(root_.get(), x), X509_V_OK);
  EXPECT_EQ(Octets(X509_get0_authority_key_id(x)), Octets(X509_get0_subject_key_id(root_.get())));
  EXPECT_EQ(X509_get_pathlen(x), 0);
  EXPECT_EQ(Criticality(x, NID_name_constraints), -1);
  ASSERT_OK_AND_ASSIGN(
      bssl::UniquePtr<X509> long_lived,
      CreateIntermediate(
          intermediate_key_.get(), RootIssuer(),
          {.trust_domain = kTrustDomain, .now = kNow, .ttl = absl::Hours(24 * 3650)}));
  EXPECT_EQ(NotAfter(long_lived.get()), NotAfter(root_.get()));
}

TEST_F(SignerTest, IntermediateRespectsTheIssuersPathLenAndTrustDomain) {
  EXPECT_THAT(
      CreateIntermediate(workload_key_.get(), IntermediateIssuer(),
                         {.trust_domain = kTrustDomain, .now = kNow, .ttl = absl::Hours(1)}),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("pathLen 0")));
  EXPECT_THAT(
      CreateIntermediate(
          workload_key_.get(), RootIssuer(),
          {.trust_domain = kTrustDomain, .now = kNow, .ttl = absl::Hours(1), .path_len = 1}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("smaller than")));
  EXPECT_THAT(
      CreateIntermediate(workload_key_.get(), RootIssuer(),
                         {.trust_domain = "bank.example", .now = kNow, .ttl = absl::Hours(1)}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not the issuer's")));
}

TEST_F(SignerTest, NameConstrainedRootStopsForeignIdsEvenIfMisissued) {
  // The signer refuses foreign IDs; a hand-made leaf shows the constraint itself binds.
  testing::Credential intermediate{bssl::UpRef(intermediate_), bssl::UpRef(intermediate_key_)};
  testing::Credential foreign =
      testing::Issue(testing::LeafSpec("spiffe://bank.example/a", kNow), &intermediate);
  TrustBundleSet::Builder builder;
  ASSERT_OK(builder.Add("bank.example", root_.get()));
  SvidVerification result =
      VerifySvidChain({foreign.x509(), intermediate_.get()}, builder.Build(), {.now = kNow});
  EXPECT_EQ(result.reason, VerifyReason::kUntrustedChain) << result.detail;
}

TEST_F(SignerTest, OpensslVerifiesTheIssuedChainForBothTlsPurposes) {
  ASSERT_OK_AND_ASSIGN(bssl::UniquePtr<X509> leaf, IssueSvid(Csr("spiffe://shop.example/sa/cart"),
                                                             IntermediateIssuer(), {.now = kNow}));
  const std::string dir = std::getenv("TEST_TMPDIR");
  testing::WriteFileOrDie(dir + "/root.pem", CertificateToPem(root_.get()));
  testing::WriteFileOrDie(dir + "/intermediate.pem", CertificateToPem(intermediate_.get()));
  testing::WriteFileOrDie(dir + "/leaf.pem", CertificateToPem(leaf.get()));
  for (const char* purpose : {"sslclient", "sslserver"}) {
    testing::CommandResult result = testing::RunCommand(
        {"/usr/bin/openssl", "verify", "-no-CApath", "-no-CAstore", "-x509_strict", "-CAfile",
         dir + "/root.pem", "-untrusted", dir + "/intermediate.pem", "-attime",
         absl::StrCat(absl::ToUnixSeconds(kNow)), "-purpose", purpose, "-auth_level", "2",
         dir + "/leaf.pem"});
    EXPECT_EQ(result.exit_code, 0) << result.command << "\n" << result.output;
    EXPECT_THAT(result.output, HasSubstr("leaf.pem: OK"));
  }
  testing::CommandResult text = testing::RunCommand(
      {"/usr/bin/openssl", "x509", "-in", dir + "/leaf.pem", "-noout", "-text"});
  EXPECT_THAT(text.output,
              HasSubstr("X509v3 Basic Constraints: critical\n                CA:FALSE"));
  EXPECT_THAT(text.output,
              HasSubstr("X509v3 Key Usage: critical\n                Digital Signature\n"));
  EXPECT_THAT(text.output,
              HasSubstr("TLS Web Server Authentication, TLS Web Client Authentication"));
  EXPECT_THAT(text.output, HasSubstr("URI:spiffe://shop.example/sa/cart"));
}

}  // namespace
}  // namespace identity
}  // namespace palisade
