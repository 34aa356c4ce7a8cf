#include "identity/svid_verifier.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/bn.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "identity/certificate.h"
#include "tests/util/status_matchers.h"
#include "tests/util/test_pki.h"

namespace palisade {
namespace identity {
namespace {

using ::palisade::testing::BasicConstraints;
using ::palisade::testing::CertSpec;
using ::palisade::testing::Credential;
using ::palisade::testing::Digest;
using ::palisade::testing::KeyType;
using ::palisade::testing::TestPki;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

class SvidVerifierTest : public ::testing::Test {
 protected:
  SvidVerifierTest() {
    TrustBundleSet::Builder builder;
    EXPECT_OK(builder.Add("shop.example", shop_.root().x509()));
    EXPECT_OK(builder.Add("bank.example", bank_.root().x509()));
    bundles_ = builder.Build();
  }

  SvidVerification Verify(absl::Span<X509* const> chain, PeerRole role = PeerRole::kAny,
                          absl::Duration skew = absl::ZeroDuration()) {
    return VerifySvidChain(chain, bundles_, {.now = kNow, .clock_skew = skew, .peer_role = role});
  }
  SvidVerification VerifyLeaf(const CertSpec& spec, PeerRole role = PeerRole::kAny) {
    Credential leaf = shop_.IssueLeaf(spec);
    return Verify(shop_.Chain(leaf), role);
  }

  // Expects `result` to fail with `reason` and a detail containing `rule`.
  static void ExpectFailure(const SvidVerification& result, VerifyReason reason,
                            absl::string_view rule) {
    EXPECT_EQ(result.reason, reason) << result.detail;
    EXPECT_THAT(result.detail, HasSubstr(std::string(rule)));
    EXPECT_FALSE(result.svid.has_value());
  }

  TestPki shop_{{.trust_domain = "shop.example", .now = kNow}};
  TestPki bank_{{.trust_domain = "bank.example", .now = kNow}};
  TrustBundleSet bundles_;
};

// ---- accepted chains ----

TEST_F(SvidVerifierTest, AcceptsLeafIssuedByIntermediateUnderTheDomainRoot) {
  Credential leaf = shop_.IssueLeaf("/ns/shop/sa/cart");
  SvidVerification result = Verify(shop_.Chain(leaf));
  ASSERT_TRUE(result.ok()) << result.detail;
  ASSERT_TRUE(result.svid.has_value());
  EXPECT_EQ(result.svid->spiffe_id.ToString(), "spiffe://shop.example/ns/shop/sa/cart");
  EXPECT_EQ(result.svid->leaf_serial, SerialHex(leaf.x509()));
  EXPECT_EQ(result.svid->leaf_not_after, kNow + absl::Hours(1));
  EXPECT_EQ(result.svid->chain_not_after, kNow + absl::Hours(1));
  EXPECT_EQ(result.svid->root_fingerprint, Sha256Fingerprint(shop_.root().x509()));
  EXPECT_EQ(result.detail, "");
}

TEST_F(SvidVerifierTest, AcceptsLeafIssuedDirectlyByTheRoot) {
  TestPki flat({.trust_domain = "shop.example", .now = kNow, .with_intermediate = false});
  TrustBundleSet::Builder builder;
  ASSERT_OK(builder.Add("shop.example", flat.root().x509()));
  Credential leaf = flat.IssueLeaf("/a");
  SvidVerification result = VerifySvidChain(flat.Chain(leaf), builder.Build(), {.now = kNow});
  EXPECT_TRUE(result.ok()) << result.detail;
}

TEST_F(SvidVerifierTest, AcceptsEachFederatedDomainAgainstItsOwnBundle) {
  Credential bank_leaf = bank_.IssueLeaf("/teller");
  SvidVerification result = Verify(bank_.Chain(bank_leaf));
  ASSERT_TRUE(result.ok()) << result.detail;
  EXPECT_EQ(result.svid->root_fingerprint, Sha256Fingerprint(bank_.root().x509()));
}

TEST_F(SvidVerifierTest, AcceptsLeavesUnderEitherRootDuringRollover) {
  TestPki next({.trust_domain = "shop.example", .now = kNow});
  TrustBundleSet::Builder builder;
  ASSERT_OK(builder.Add("shop.example", shop_.root().x509()));
  ASSERT_OK(builder.Add("shop.example", next.root().x509()));
  TrustBundleSet both = builder.Build();
  Credential old_leaf = shop_.IssueLeaf("/a");
  Credential new_leaf = next.IssueLeaf("/a");
  SvidVerification old_result = VerifySvidChain(shop_.Chain(old_leaf), both, {.now = kNow});
  SvidVerification new_result = VerifySvidChain(next.Chain(new_leaf), both, {.now = kNow});
  ASSERT_TRUE(old_result.ok()) << old_result.detail;
  ASSERT_TRUE(new_result.ok()) << new_result.detail;
  EXPECT_EQ(old_result.svid->root_fingerprint, Sha256Fingerprint(shop_.root().x509()));
  EXPECT_EQ(new_result.svid->root_fingerprint, Sha256Fingerprint(next.root().x509()));
}

TEST_F(SvidVerifierTest, AcceptsChainThatCarriesTheTrustedRoot) {
  Credential leaf = shop_.IssueLeaf("/a");
  std::vector<X509*> chain = shop_.Chain(leaf);
  chain.push_back(shop_.root().x509());
  EXPECT_TRUE(Verify(chain).ok());
}

TEST_F(SvidVerifierTest, AcceptsANonSelfSignedCaAsAnchor) {
  TrustBundleSet::Builder builder;
  ASSERT_OK(builder.Add("shop.example", shop_.intermediate().x509()));
  Credential leaf = shop_.IssueLeaf("/a");
  SvidVerification result = VerifySvidChain({leaf.x509()}, builder.Build(), {.now = kNow});
  ASSERT_TRUE(result.ok()) << result.detail;
  EXPECT_EQ(result.svid->root_fingerprint, Sha256Fingerprint(shop_.intermediate().x509()));
}

TEST_F(SvidVerifierTest, ReportsTheEarliestNotAfterAlongThePath) {
  TestPki pki({.trust_domain = "shop.example", .now = kNow, .with_intermediate = false});
  CertSpec intermediate_spec = testing::IntermediateSpec("shop.example", kNow);
  intermediate_spec.not_after = kNow + absl::Minutes(30);
  Credential intermediate = testing::Issue(intermediate_spec, &pki.root());
  Credential leaf = testing::Issue(pki.LeafSpec("/a"), &intermediate);
  TrustBundleSet::Builder builder;
  ASSERT_OK(builder.Add("shop.example", pki.root().x509()));
  SvidVerification result =
      VerifySvidChain({leaf.x509(), intermediate.x509()}, builder.Build(), {.now = kNow});
  ASSERT_TRUE(result.ok()) << result.detail;
  EXPECT_EQ(result.svid->leaf_not_after, kNow + absl::Hours(1));
  EXPECT_EQ(result.svid->chain_not_after, kNow + absl::Minutes(30));
}

TEST_F(SvidVerifierTest, AcceptsLeavesWithoutEkuAndWithDnsSans) {
  CertSpec spec = shop_.LeafSpec("/a");
  spec.extended_key_usage = std::nullopt;
  spec.dns_sans = {"a.shop.example"};
  EXPECT_TRUE(VerifyLeaf(spec, PeerRole::kClient).ok());
  EXPECT_TRUE(VerifyLeaf(spec, PeerRole::kServer).ok());
}

TEST_F(SvidVerifierTest, AcceptsStrongKeyTypes) {
  for (KeyType type : {KeyType::kEcP384, KeyType::kEcP521, KeyType::kRsa2048}) {
    CertSpec spec = shop_.LeafSpec("/a");
    spec.key_type = type;
    SvidVerification result = VerifyLeaf(spec);
    EXPECT_TRUE(result.ok()) << static_cast<int>(type) << ": " << result.detail;
  }
}

TEST_F(SvidVerifierTest, VerifiesDerChainsLikeParsedOnes) {
  Credential leaf = shop_.IssueLeaf("/a");
  const std::string leaf_der = CertificateToDer(leaf.x509());
  const std::string intermediate_der = CertificateToDer(shop_.intermediate().x509());
  std::vector<absl::string_view> der = {leaf_der, intermediate_der};
  EXPECT_TRUE(VerifySvidChainDer(der, bundles_, {.now = kNow}).ok());
}

// ---- no_certificate / malformed_certificate ----

TEST_F(SvidVerifierTest, RejectsAnEmptyChainAsNoCertificate) {
  ExpectFailure(Verify({}), VerifyReason::kNoCertificate, "no certificate");
  ExpectFailure(VerifySvidChainDer({}, bundles_, {.now = kNow}), VerifyReason::kNoCertificate,
                "no certificate");
}

TEST_F(SvidVerifierTest, RejectsNullAndUnparsableCertificatesAsMalformed) {
  Credential leaf = shop_.IssueLeaf("/a");
  ExpectFailure(Verify({leaf.x509(), nullptr}), VerifyReason::kMalformedCertificate,
                "certificate 1 is null");
  const std::string leaf_der = CertificateToDer(leaf.x509());
  std::vector<absl::string_view> der = {leaf_der, "garbage"};
  ExpectFailure(VerifySvidChainDer(der, bundles_, {.now = kNow}),
                VerifyReason::kMalformedCertificate, "certificate 1");
}

TEST_F(SvidVerifierTest, RejectsUnknownCriticalExtensionAsMalformed) {
  CertSpec spec = shop_.LeafSpec("/a");
  spec.unknown_critical_extension = true;
  ExpectFailure(VerifyLeaf(spec), VerifyReason::kMalformedCertificate, "critical extension");
}

TEST_F(SvidVerifierTest, RejectsOverlongChains) {
  Credential leaf = shop_.IssueLeaf("/a");
  std::vector<X509*> chain(kMaxPeerChainLength + 1, shop_.intermediate().x509());
  chain[0] = leaf.x509();
  ExpectFailure(Verify(chain), VerifyReason::kUntrustedChain, "at most 10");
}

// ---- bad_spiffe_id ----

TEST_F(SvidVerifierTest, RejectsLeafWithoutUriSan) {
  CertSpec spec = shop_.LeafSpec("/a");
  spec.uri_sans.clear();
  spec.dns_sans = {"a.shop.example"};
  ExpectFailure(VerifyLeaf(spec), VerifyReason::kBadSpiffeId, "no URI SAN");
}

TEST_F(SvidVerifierTest, RejectsLeafWithTwoUriSans) {
  CertSpec spec = shop_.LeafSpec("/a");
  spec.uri_sans.push_back("spiffe://shop.example/b");
  ExpectFailure(VerifyLeaf(spec), VerifyReason::kBadSpiffeId, "2 URI SANs");
}

TEST_F(SvidVerifierTest, RejectsLeafWithNonSpiffeUri) {
  CertSpec spec = shop_.LeafSpec("/a");
  spec.uri_sans = {"https://shop.example/a"};
  ExpectFailure(VerifyLeaf(spec), VerifyReason::kBadSpiffeId, "scheme");
}

TEST_F(SvidVerifierTest, RejectsLeafWithInvalidSpiffeId) {
  CertSpec spec = shop_.LeafSpec("/a");
  spec.uri_sans = {"spiffe://Shop.example/a"};
  ExpectFailure(VerifyLeaf(spec), VerifyReason::kBadSpiffeId, "lowercase");
  spec.uri_sans = {"spiffe://shop.example/a/"};
  ExpectFailure(VerifyLeaf(spec), VerifyReason::kBadSpiffeId, "trailing slash");
}

TEST_F(SvidVerifierTest, RejectsLeafWhoseSpiffeIdIsABareTrustDomain) {
  // X509-SVID §3: a trust domain's own ID names no workload, so no leaf carries it.
  ExpectFailure(VerifyLeaf(testing::LeafSpec("spiffe://shop.example", kNow)),
                VerifyReason::kBadSpiffeId, "X509-SVID section 3");
  ExpectFailure(VerifyLeaf(testing::LeafSpec("spiffe://shop.example", kNow)),
                VerifyReason::kBadSpiffeId, "has no path");
}

TEST_F(SvidVerifierTest, RejectsLeafWithRepeatedSanExtensionAsMalformed) {
  CertSpec spec = shop_.LeafSpec("/a");
  spec.duplicate_san_extension = true;
  // BoringSSL marks a certificate with a repeated extension as invalid, so this is
  // caught before the SAN is read.
  ExpectFailure(VerifyLeaf(spec), VerifyReason::kMalformedCertificate, "malformed extensions");
}

// ---- wrong_trust_domain ----

TEST_F(SvidVerifierTest, RejectsLeafOfADomainWithoutBundle) {
  TestPki other({.trust_domain = "other.example", .now = kNow});
  Credential leaf = other.IssueLeaf("/a");
  ExpectFailure(Verify(other.Chain(leaf)), VerifyReason::kWrongTrustDomain,
                "no trust bundle for trust domain \"other.example\"");
}

TEST_F(SvidVerifierTest, RejectsLeafOutsideTheExpectedTrustDomain) {
  Credential leaf = bank_.IssueLeaf("/a");
  ExpectFailure(VerifySvidChain(bank_.Chain(leaf), bundles_,
                                {.now = kNow, .expected_trust_domain = "shop.example"}),
                VerifyReason::kWrongTrustDomain, "not in the expected trust domain");
  EXPECT_TRUE(VerifySvidChain(bank_.Chain(leaf), bundles_,
                              {.now = kNow, .expected_trust_domain = "bank.example"})
                  .ok());
}

// ---- untrusted_chain ----

TEST_F(SvidVerifierTest, NeverAnchorsALeafInAnotherDomainsRoots) {
  // bank's CA issues an SVID that claims to be in shop.example: the bank root is in
  // the set, but not in shop's bundle.
  Credential forged = bank_.IssueLeaf(testing::LeafSpec("spiffe://shop.example/admin", kNow));
  ExpectFailure(Verify(bank_.Chain(forged)), VerifyReason::kUntrustedChain,
                "unable to get local issuer certificate");
}

TEST_F(SvidVerifierTest, RejectsSelfSignedLeaf) {
  Credential self_signed = testing::Issue(shop_.LeafSpec("/a"), nullptr);
  ExpectFailure(Verify({self_signed.x509()}), VerifyReason::kUntrustedChain,
                "unable to get local issuer certificate");
}

TEST_F(SvidVerifierTest, RejectsChainMissingItsIntermediate) {
  Credential leaf = shop_.IssueLeaf("/a");
  ExpectFailure(Verify({leaf.x509()}), VerifyReason::kUntrustedChain, "issuer");
}

TEST_F(SvidVerifierTest, NeverTrustsARootThePeerSends) {
  TestPki attacker({.trust_domain = "shop.example", .now = kNow});
  Credential leaf = attacker.IssueLeaf("/a");
  std::vector<X509*> chain = attacker.Chain(leaf);
  chain.push_back(attacker.root().x509());
  ExpectFailure(Verify(chain), VerifyReason::kUntrustedChain, "self");
}

TEST_F(SvidVerifierTest, RejectsLeafWhoseSignatureDoesNotVerify) {
  Credential leaf = shop_.IssueLeaf("/a");
  // Changing a signed field after signing leaves the old signature in place.
  bssl::UniquePtr<BIGNUM> bn(BN_new());
  BN_set_word(bn.get(), 12345);
  bssl::UniquePtr<ASN1_INTEGER> serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  ASSERT_TRUE(X509_set_serialNumber(leaf.x509(), serial.get()));
  ExpectFailure(Verify(shop_.Chain(leaf)), VerifyReason::kUntrustedChain, "signature");
}

TEST_F(SvidVerifierTest, RejectsIntermediateThatIsNotACa) {
  CertSpec spec = testing::IntermediateSpec("shop.example", kNow);
  spec.basic_constraints = BasicConstraints::kNotCa;
  Credential intermediate = testing::Issue(spec, &shop_.root());
  Credential leaf = testing::Issue(shop_.LeafSpec("/a"), &intermediate);
  ExpectFailure(Verify({leaf.x509(), intermediate.x509()}), VerifyReason::kUntrustedChain,
                "not a CA");
  spec.basic_constraints = BasicConstraints::kAbsent;
  intermediate = testing::Issue(spec, &shop_.root());
  leaf = testing::Issue(shop_.LeafSpec("/a"), &intermediate);
  ExpectFailure(Verify({leaf.x509(), intermediate.x509()}), VerifyReason::kUntrustedChain,
                "not a CA");
}

TEST_F(SvidVerifierTest, RejectsPathLongerThanTheRootsPathLen) {
  TestPki pki({.trust_domain = "shop.example", .now = kNow, .with_intermediate = false});
  CertSpec root_spec = testing::RootSpec("shop.example", kNow);
  root_spec.path_len = 0;
  Credential root = testing::Issue(root_spec, nullptr);
  Credential intermediate = testing::Issue(testing::IntermediateSpec("shop.example", kNow), &root);
  Credential leaf = testing::Issue(pki.LeafSpec("/a"), &intermediate);
  TrustBundleSet::Builder builder;
  ASSERT_OK(builder.Add("shop.example", root.x509()));
  TrustBundleSet set = builder.Build();
  ExpectFailure(VerifySvidChain({leaf.x509(), intermediate.x509()}, set, {.now = kNow}),
                VerifyReason::kUntrustedChain, "path length");
  // pathLen 0 still lets the root issue leaves directly.
  Credential direct = testing::Issue(pki.LeafSpec("/a"), &root);
  EXPECT_TRUE(VerifySvidChain({direct.x509()}, set, {.now = kNow}).ok());
}

TEST_F(SvidVerifierTest, RejectsPathLongerThanAnIntermediatesPathLen) {
  CertSpec upper_spec = testing::IntermediateSpec("shop.example", kNow);
  upper_spec.subject = {{"CN", "upper"}};
  upper_spec.path_len = 0;
  Credential upper = testing::Issue(upper_spec, &shop_.root());
  CertSpec lower_spec = testing::IntermediateSpec("shop.example", kNow);
  lower_spec.subject = {{"CN", "lower"}};
  Credential lower = testing::Issue(lower_spec, &upper);
  Credential leaf = testing::Issue(shop_.LeafSpec("/a"), &lower);
  ExpectFailure(Verify({leaf.x509(), lower.x509(), upper.x509()}), VerifyReason::kUntrustedChain,
                "path length");
  Credential direct = testing::Issue(shop_.LeafSpec("/a"), &upper);
  EXPECT_TRUE(Verify({direct.x509(), upper.x509()}).ok());
}

TEST_F(SvidVerifierTest, EnforcesUriNameConstraintsOfTheRoot) {
  TestPki constrained({.trust_domain = "shop.example", .now = kNow, .name_constrained = true});
  TrustBundleSet::Builder builder;
  ASSERT_OK(builder.Add("shop.example", constrained.root().x509()));
  // A misconfigured federation that maps bank.example to shop's root too.
  ASSERT_OK(builder.Add("bank.example", constrained.root().x509()));
  TrustBundleSet set = builder.Build();
  Credential inside = constrained.IssueLeaf("/a");
  EXPECT_TRUE(VerifySvidChain(constrained.Chain(inside), set, {.now = kNow}).ok());
  Credential outside =
      constrained.IssueLeaf(testing::LeafSpec("spiffe://bank.example/teller", kNow));
  ExpectFailure(VerifySvidChain(constrained.Chain(outside), set, {.now = kNow}),
                VerifyReason::kUntrustedChain, "permitted subtree violation");
}

TEST_F(SvidVerifierTest, ReportsUntrustedBeforeLeafRules) {
  TestPki attacker({.trust_domain = "shop.example", .now = kNow});
  CertSpec spec = attacker.LeafSpec("/a");
  spec.basic_constraints = BasicConstraints::kCa;
  Credential leaf = attacker.IssueLeaf(spec);
  EXPECT_EQ(Verify(attacker.Chain(leaf)).reason, VerifyReason::kUntrustedChain);
}

// ---- leaf_is_ca ----

TEST_F(SvidVerifierTest, RejectsLeafThatIsACa) {
  CertSpec spec = shop_.LeafSpec("/a");
  spec.basic_constraints = BasicConstraints::kCa;
  ExpectFailure(VerifyLeaf(spec), VerifyReason::kLeafIsCa, "CA:true");
}

TEST_F(SvidVerifierTest, RejectsLeafWithKeyCertSignOrCrlSign) {
  CertSpec spec = shop_.LeafSpec("/a");
  spec.key_usage = kDigitalSignature | kKeyCertSign;
  ExpectFailure(VerifyLeaf(spec), VerifyReason::kLeafIsCa, "keyCertSign or cRLSign");
  spec.key_usage = kDigitalSignature | kCrlSign;
  ExpectFailure(VerifyLeaf(spec), VerifyReason::kLeafIsCa, "keyCertSign or cRLSign");
}

// ---- bad_key_usage ----

TEST_F(SvidVerifierTest, RejectsLeafWithoutKeyUsage) {
  // X509-SVID §4.3: keyUsage MUST be present on a leaf, with digitalSignature.
  CertSpec spec = shop_.LeafSpec("/a");
  spec.key_usage = std::nullopt;
  ExpectFailure(VerifyLeaf(spec), VerifyReason::kBadKeyUsage, "X509-SVID section 4.3");
  ExpectFailure(VerifyLeaf(spec, PeerRole::kClient), VerifyReason::kBadKeyUsage,
                "leaf has no keyUsage extension");
}

TEST_F(SvidVerifierTest, RejectsLeafKeyUsageWithoutDigitalSignature) {
  CertSpec spec = shop_.LeafSpec("/a");
  spec.key_usage = kKeyEncipherment;
  ExpectFailure(VerifyLeaf(spec), VerifyReason::kBadKeyUsage, "digitalSignature");
}

TEST_F(SvidVerifierTest, RequiresClientAuthEkuOfAClient) {
  CertSpec spec = shop_.LeafSpec("/a");
  spec.extended_key_usage = std::vector<int>{NID_server_auth};
  Credential server_only = shop_.IssueLeaf(spec);
  ExpectFailure(Verify(shop_.Chain(server_only), PeerRole::kClient), VerifyReason::kBadKeyUsage,
                "lacks clientAuth");
  EXPECT_TRUE(Verify(shop_.Chain(server_only), PeerRole::kServer).ok());
  EXPECT_TRUE(Verify(shop_.Chain(server_only), PeerRole::kAny).ok());
}

TEST_F(SvidVerifierTest, RequiresServerAuthEkuOfAServer) {
  CertSpec spec = shop_.LeafSpec("/a");
  spec.extended_key_usage = std::vector<int>{NID_client_auth};
  Credential client_only = shop_.IssueLeaf(spec);
  ExpectFailure(Verify(shop_.Chain(client_only), PeerRole::kServer), VerifyReason::kBadKeyUsage,
                "lacks serverAuth");
  EXPECT_TRUE(Verify(shop_.Chain(client_only), PeerRole::kClient).ok());
  spec.extended_key_usage = std::vector<int>{NID_code_sign};
  ExpectFailure(VerifyLeaf(spec, PeerRole::kServer), VerifyReason::kBadKeyUsage,
                "lacks serverAuth");
}

TEST_F(SvidVerifierTest, RejectsSigningCertificateWithoutKeyCertSign) {
  CertSpec spec = testing::IntermediateSpec("shop.example", kNow);
  spec.key_usage = kDigitalSignature | kCrlSign;
  Credential intermediate = testing::Issue(spec, &shop_.root());
  Credential leaf = testing::Issue(shop_.LeafSpec("/a"), &intermediate);
  ExpectFailure(Verify({leaf.x509(), intermediate.x509()}), VerifyReason::kBadKeyUsage,
                "keyCertSign");
  spec.key_usage = std::nullopt;  // BoringSSL accepts a CA without keyUsage; SPIFFE does not
  intermediate = testing::Issue(spec, &shop_.root());
  leaf = testing::Issue(shop_.LeafSpec("/a"), &intermediate);
  ExpectFailure(Verify({leaf.x509(), intermediate.x509()}), VerifyReason::kBadKeyUsage,
                "intermediate at depth 1");
}

TEST_F(SvidVerifierTest, BlamesKeyUsageOnlyOnTheIssuerWhoseKeyIdMatches) {
  // A same-named CA without keyCertSign whose key did not sign the leaf: the chain
  // is simply untrusted.
  CertSpec spec = testing::IntermediateSpec("shop.example", kNow);
  spec.key_usage = kDigitalSignature;
  Credential impostor = testing::Issue(spec, &shop_.root());
  Credential real_issuer =
      testing::Issue(testing::IntermediateSpec("shop.example", kNow), &shop_.root());
  Credential leaf = testing::Issue(shop_.LeafSpec("/a"), &real_issuer);
  ExpectFailure(Verify({leaf.x509(), impostor.x509()}), VerifyReason::kUntrustedChain,
                "unable to get local issuer certificate");
}

// ---- weak_key ----

TEST_F(SvidVerifierTest, RejectsWeakLeafKeys) {
  CertSpec spec = shop_.LeafSpec("/a");
  spec.key_type = KeyType::kRsa1024;
  ExpectFailure(VerifyLeaf(spec), VerifyReason::kWeakKey, "leaf (/O=Palisade test): RSA 1024");
  spec.key_type = KeyType::kEcP224;
  ExpectFailure(VerifyLeaf(spec), VerifyReason::kWeakKey, "EC P-224");
  spec.key_type = KeyType::kEd25519;
  ExpectFailure(VerifyLeaf(spec), VerifyReason::kWeakKey, "Ed25519");
}

TEST_F(SvidVerifierTest, RejectsWeakKeysOfSigningCertificates) {
  TestPki weak({.trust_domain = "shop.example",
                .now = kNow,
                .with_intermediate = false,
                .ca_key_type = KeyType::kRsa1024});
  TrustBundleSet::Builder builder;
  ASSERT_OK(builder.Add("shop.example", weak.root().x509()));
  Credential leaf = weak.IssueLeaf("/a");
  ExpectFailure(VerifySvidChain({leaf.x509()}, builder.Build(), {.now = kNow}),
                VerifyReason::kWeakKey, "trust anchor at depth 1");

  CertSpec spec = testing::IntermediateSpec("shop.example", kNow);
  spec.key_type = KeyType::kEcP224;
  Credential intermediate = testing::Issue(spec, &shop_.root());
  Credential leaf2 = testing::Issue(shop_.LeafSpec("/a"), &intermediate);
  ExpectFailure(Verify({leaf2.x509(), intermediate.x509()}), VerifyReason::kWeakKey,
                "intermediate at depth 1");
}

// ---- weak_signature ----

TEST_F(SvidVerifierTest, RejectsSha1SignedLeaf) {
  CertSpec spec = shop_.LeafSpec("/a");
  spec.digest = Digest::kSha1;
  ExpectFailure(VerifyLeaf(spec), VerifyReason::kWeakSignature, "SHA1");
}

TEST_F(SvidVerifierTest, RejectsSha1SignedIntermediate) {
  CertSpec spec = testing::IntermediateSpec("shop.example", kNow);
  spec.digest = Digest::kSha1;
  Credential intermediate = testing::Issue(spec, &shop_.root());
  Credential leaf = testing::Issue(shop_.LeafSpec("/a"), &intermediate);
  ExpectFailure(Verify({leaf.x509(), intermediate.x509()}), VerifyReason::kWeakSignature,
                "intermediate at depth 1");
}

TEST_F(SvidVerifierTest, RejectsMd5SignedLeaf) {
  TestPki rsa({.trust_domain = "shop.example",
               .now = kNow,
               .with_intermediate = false,
               .ca_key_type = KeyType::kRsa2048});
  TrustBundleSet::Builder builder;
  ASSERT_OK(builder.Add("shop.example", rsa.root().x509()));
  TrustBundleSet set = builder.Build();
  Credential good = rsa.IssueLeaf("/a");
  EXPECT_TRUE(VerifySvidChain({good.x509()}, set, {.now = kNow}).ok());
  CertSpec spec = rsa.LeafSpec("/a");
  spec.digest = Digest::kMd5;
  Credential leaf = rsa.IssueLeaf(spec);
  ExpectFailure(VerifySvidChain({leaf.x509()}, set, {.now = kNow}), VerifyReason::kWeakSignature,
                "leaf");
}

TEST_F(SvidVerifierTest, IgnoresTheAnchorsOwnSelfSignatureAlgorithm) {
  CertSpec root_spec = testing::RootSpec("shop.example", kNow);
  root_spec.digest = Digest::kSha1;
  Credential root = testing::Issue(root_spec, nullptr);
  Credential leaf = testing::Issue(shop_.LeafSpec("/a"), &root);
  TrustBundleSet::Builder builder;
  ASSERT_OK(builder.Add("shop.example", root.x509()));
  SvidVerification result = VerifySvidChain({leaf.x509()}, builder.Build(), {.now = kNow});
  EXPECT_TRUE(result.ok()) << result.detail;
}

// ---- expired / not_yet_valid ----

TEST_F(SvidVerifierTest, RejectsExpiredLeaf) {
  CertSpec spec = shop_.LeafSpec("/a");
  spec.not_after = kNow - absl::Seconds(1);
  ExpectFailure(VerifyLeaf(spec), VerifyReason::kExpired, "leaf (/O=Palisade test): expired at");
}

TEST_F(SvidVerifierTest, RejectsExpiredIntermediateAndRoot) {
  CertSpec spec = testing::IntermediateSpec("shop.example", kNow);
  spec.not_after = kNow - absl::Minutes(1);
  Credential intermediate = testing::Issue(spec, &shop_.root());
  Credential leaf = testing::Issue(shop_.LeafSpec("/a"), &intermediate);
  ExpectFailure(Verify({leaf.x509(), intermediate.x509()}), VerifyReason::kExpired,
                "intermediate at depth 1");

  CertSpec root_spec = testing::RootSpec("shop.example", kNow);
  root_spec.not_after = kNow - absl::Minutes(1);
  Credential root = testing::Issue(root_spec, nullptr);
  Credential leaf2 = testing::Issue(shop_.LeafSpec("/a"), &root);
  TrustBundleSet::Builder builder;
  ASSERT_OK(builder.Add("shop.example", root.x509()));
  ExpectFailure(VerifySvidChain({leaf2.x509()}, builder.Build(), {.now = kNow}),
                VerifyReason::kExpired, "trust anchor at depth 1");
}

TEST_F(SvidVerifierTest, RejectsNotYetValidLeaf) {
  CertSpec spec = shop_.LeafSpec("/a");
  spec.not_before = kNow + absl::Seconds(1);
  ExpectFailure(VerifyLeaf(spec), VerifyReason::kNotYetValid, "not valid before");
}

TEST_F(SvidVerifierTest, AllowsTheConfiguredClockSkewAtBothEnds) {
  CertSpec spec = shop_.LeafSpec("/a");
  spec.not_after = kNow - absl::Seconds(20);
  Credential just_expired = shop_.IssueLeaf(spec);
  EXPECT_TRUE(Verify(shop_.Chain(just_expired), PeerRole::kAny, absl::Seconds(30)).ok());
  EXPECT_TRUE(Verify(shop_.Chain(just_expired), PeerRole::kAny, absl::Seconds(20)).ok());
  ExpectFailure(Verify(shop_.Chain(just_expired), PeerRole::kAny, absl::Seconds(19)),
                VerifyReason::kExpired, "allowed skew 19s");

  spec = shop_.LeafSpec("/a");
  spec.not_before = kNow + absl::Seconds(20);
  Credential early = shop_.IssueLeaf(spec);
  EXPECT_TRUE(Verify(shop_.Chain(early), PeerRole::kAny, absl::Seconds(30)).ok());
  ExpectFailure(Verify(shop_.Chain(early), PeerRole::kAny, absl::Seconds(10)),
                VerifyReason::kNotYetValid, "allowed skew 10s");
}

TEST_F(SvidVerifierTest, UsesTheInjectedClockNotTheSystemClock) {
  // Everything in this fixture was issued around 2023-11-14; a day later it is expired.
  Credential leaf = shop_.IssueLeaf("/a");
  EXPECT_TRUE(VerifySvidChain(shop_.Chain(leaf), bundles_, {.now = kNow}).ok());
  EXPECT_EQ(VerifySvidChain(shop_.Chain(leaf), bundles_, {.now = kNow + absl::Hours(24)}).reason,
            VerifyReason::kExpired);
  EXPECT_EQ(VerifySvidChain(shop_.Chain(leaf), bundles_, {.now = kNow - absl::Hours(24)}).reason,
            VerifyReason::kNotYetValid);
}

TEST_F(SvidVerifierTest, VerifiesConcurrentlyWithOneSharedBundleSet) {
  Credential leaf = shop_.IssueLeaf("/a");
  Credential bank_leaf = bank_.IssueLeaf("/b");
  const std::vector<X509*> shop_chain = shop_.Chain(leaf);
  const std::vector<X509*> bank_chain = bank_.Chain(bank_leaf);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const TrustBundleSet bundles = bundles_;  // copies share the stores
      for (int i = 0; i < 25; ++i) {
        const auto& chain = (t + i) % 2 == 0 ? shop_chain : bank_chain;
        if (!VerifySvidChain(chain, bundles, {.now = kNow}).ok()) ++failures;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace identity
}  // namespace palisade
