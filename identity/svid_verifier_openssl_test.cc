// Cross-checks VerifySvidChain against an independent verifier: the OpenSSL 3
// `openssl verify` command, run as a subprocess on PEM files. For chain-level rules
// both must reach the same verdict (OpenSSL's error code is pinned per case); for
// SPIFFE-only rules that OpenSSL does not know (CA leaf, URI SAN count, trust
// domain...) OpenSSL must accept the chain, which shows that our rejection comes from
// that rule and not from a broken test certificate.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "identity/certificate.h"
#include "identity/svid_verifier.h"
#include "identity/trust_bundle.h"
#include "tests/util/subprocess.h"
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

const absl::Time kNow = absl::FromUnixSeconds(1700000000);
constexpr char kOpenssl[] = "/usr/bin/openssl";
constexpr int kOpensslOk = 0;

// OpenSSL 3.0's X509_V_ERR_* numbers (its openssl/x509_vfy.h), spelled out here
// because BoringSSL's header numbers some codes differently (INVALID_CA is 24
// there, 79 in OpenSSL 3.0).
namespace openssl3 {
constexpr int kCertSignatureFailure = 7;
constexpr int kCertNotYetValid = 9;
constexpr int kCertHasExpired = 10;
constexpr int kDepthZeroSelfSignedCert = 18;
constexpr int kSelfSignedCertInChain = 19;
constexpr int kUnableToGetIssuerCertLocally = 20;
constexpr int kInvalidCa = 79;
constexpr int kPathLengthExceeded = 25;
constexpr int kInvalidPurpose = 26;
constexpr int kPermittedViolation = 47;
constexpr int kEeKeyTooSmall = 66;
constexpr int kCaMdTooWeak = 68;
}  // namespace openssl3

// What one case hands to both verifiers.
struct Scenario {
  std::vector<Credential> owned;  // keeps certificates alive
  std::vector<X509*> roots;       // the bundle of the leaf's domain, and -CAfile
  std::vector<X509*> chain;       // leaf first, as the peer sends it; tail = -untrusted
  std::string bundle_domain = "shop.example";
  PeerRole role = PeerRole::kAny;
  int auth_level = -1;  // -auth_level for openssl when >= 0
};

struct Case {
  std::string name;
  std::function<Scenario()> build;
  VerifyReason ours;
  int openssl_error;  // X509_V_ERR_* number OpenSSL reports, kOpensslOk for "OK"
};

struct OpensslVerdict {
  int error = -1;  // kOpensslOk or the first "error N at" code
  std::string output;
};

std::string TmpDir() { return std::getenv("TEST_TMPDIR"); }

OpensslVerdict RunOpensslVerify(const std::string& dir, const Scenario& s) {
  testing::WriteFileOrDie(dir + "/roots.pem", testing::PemOf(s.roots));
  testing::WriteFileOrDie(dir + "/leaf.pem", CertificateToPem(s.chain[0]));
  std::vector<std::string> args = {
      kOpenssl,  "verify",           "-no-CApath", "-no-CAstore",
      "-CAfile", dir + "/roots.pem", "-attime",    absl::StrCat(absl::ToUnixSeconds(kNow))};
  if (s.chain.size() > 1) {
    std::vector<X509*> untrusted(s.chain.begin() + 1, s.chain.end());
    testing::WriteFileOrDie(dir + "/untrusted.pem", testing::PemOf(untrusted));
    args.insert(args.end(), {"-untrusted", dir + "/untrusted.pem"});
  }
  if (s.role == PeerRole::kClient) args.insert(args.end(), {"-purpose", "sslclient"});
  if (s.role == PeerRole::kServer) args.insert(args.end(), {"-purpose", "sslserver"});
  if (s.auth_level >= 0) args.insert(args.end(), {"-auth_level", absl::StrCat(s.auth_level)});
  args.push_back(dir + "/leaf.pem");
  testing::CommandResult run = testing::RunCommand(args);

  OpensslVerdict verdict;
  verdict.output = absl::StrCat("$ ", run.command, "\n", run.output);
  if (run.exit_code == 0 && run.output.find(": OK") != std::string::npos) {
    verdict.error = kOpensslOk;
    return verdict;
  }
  const size_t at = run.output.find("error ");
  if (at != std::string::npos) {
    const size_t end = run.output.find(' ', at + 6);
    int code = -1;
    if (absl::SimpleAtoi(run.output.substr(at + 6, end - at - 6), &code)) verdict.error = code;
  }
  return verdict;
}

// ---- scenario builders ----

// A reference to `c`'s certificate that outlives the TestPki that made it.
Credential Keep(const Credential& c) { return {bssl::UpRef(c.cert), nullptr}; }

// A valid chain of `pki` for `leaf_spec`; owns references to everything it names.
Scenario Valid(const TestPki& pki, const CertSpec& leaf_spec) {
  Scenario s;
  s.owned.push_back(pki.IssueLeaf(leaf_spec));
  s.chain = pki.Chain(s.owned.back());
  s.owned.push_back(Keep(pki.root()));
  s.roots = {s.owned.back().x509()};
  if (pki.has_intermediate()) s.owned.push_back(Keep(pki.intermediate()));
  return s;
}

Scenario LeafWith(std::function<void(CertSpec&)> edit, PeerRole role = PeerRole::kAny,
                  int auth_level = -1) {
  static const TestPki* pki = new TestPki({.trust_domain = "shop.example", .now = kNow});
  CertSpec spec = pki->LeafSpec("/ns/shop/sa/cart");
  edit(spec);
  Scenario s = Valid(*pki, spec);
  s.role = role;
  s.auth_level = auth_level;
  return s;
}

// A chain root -> intermediate(edited) -> leaf.
Scenario IntermediateWith(
    std::function<void(CertSpec&)> edit_intermediate,
    std::function<void(CertSpec&)> edit_root = [](CertSpec&) {}) {
  Scenario s;
  CertSpec root_spec = testing::RootSpec("shop.example", kNow);
  edit_root(root_spec);
  s.owned.push_back(testing::Issue(root_spec, nullptr));
  CertSpec intermediate_spec = testing::IntermediateSpec("shop.example", kNow);
  edit_intermediate(intermediate_spec);
  s.owned.push_back(testing::Issue(intermediate_spec, &s.owned[0]));
  s.owned.push_back(
      testing::Issue(testing::LeafSpec("spiffe://shop.example/a", kNow), &s.owned[1]));
  s.roots = {s.owned[0].x509()};
  s.chain = {s.owned[2].x509(), s.owned[1].x509()};
  return s;
}

std::vector<Case> Cases() {
  const auto no_edit = [](CertSpec&) {};
  return {
      // Both accept.
      {"ValidThreeLevelChain", [no_edit] { return LeafWith(no_edit); }, VerifyReason::kOk,
       kOpensslOk},
      {"ValidChainAsClient", [no_edit] { return LeafWith(no_edit, PeerRole::kClient); },
       VerifyReason::kOk, kOpensslOk},
      {"ValidChainAsServer", [no_edit] { return LeafWith(no_edit, PeerRole::kServer); },
       VerifyReason::kOk, kOpensslOk},
      {"ValidTwoLevelChain",
       [] {
         TestPki pki({.trust_domain = "shop.example", .now = kNow, .with_intermediate = false});
         return Valid(pki, pki.LeafSpec("/a"));
       },
       VerifyReason::kOk, kOpensslOk},
      {"RolloverSecondRoot",
       [] {
         TestPki old_pki({.trust_domain = "shop.example", .now = kNow});
         TestPki new_pki({.trust_domain = "shop.example", .now = kNow});
         Scenario s = Valid(new_pki, new_pki.LeafSpec("/a"));
         s.owned.push_back(Keep(old_pki.root()));
         s.roots.insert(s.roots.begin(), s.owned.back().x509());
         return s;
       },
       VerifyReason::kOk, kOpensslOk},
      {"ValidP256ChainAtAuthLevel3", [no_edit] { return LeafWith(no_edit, PeerRole::kAny, 3); },
       VerifyReason::kOk, kOpensslOk},
      // Both reject, for the same reason.
      {"ExpiredLeaf",
       [] { return LeafWith([](CertSpec& s) { s.not_after = kNow - absl::Minutes(1); }); },
       VerifyReason::kExpired, openssl3::kCertHasExpired},
      {"NotYetValidLeaf",
       [] { return LeafWith([](CertSpec& s) { s.not_before = kNow + absl::Minutes(1); }); },
       VerifyReason::kNotYetValid, openssl3::kCertNotYetValid},
      {"ExpiredIntermediate",
       [] { return IntermediateWith([](CertSpec& s) { s.not_after = kNow - absl::Minutes(1); }); },
       VerifyReason::kExpired, openssl3::kCertHasExpired},
      {"LeafFromAnotherDomainsRoot",
       [] {
         TestPki bank({.trust_domain = "bank.example", .now = kNow});
         TestPki shop({.trust_domain = "shop.example", .now = kNow});
         Scenario s = Valid(bank, testing::LeafSpec("spiffe://shop.example/admin", kNow));
         s.owned.push_back(Keep(shop.root()));
         s.roots = {s.owned.back().x509()};
         return s;
       },
       VerifyReason::kUntrustedChain, openssl3::kUnableToGetIssuerCertLocally},
      {"SelfSignedLeaf",
       [] {
         Scenario s = LeafWith([](CertSpec&) {});
         s.owned.push_back(
             testing::Issue(testing::LeafSpec("spiffe://shop.example/a", kNow), nullptr));
         s.chain = {s.owned.back().x509()};
         return s;
       },
       VerifyReason::kUntrustedChain, openssl3::kDepthZeroSelfSignedCert},
      {"AttackerRootSentInChain",
       [] {
         TestPki attacker({.trust_domain = "shop.example", .now = kNow});
         TestPki shop({.trust_domain = "shop.example", .now = kNow});
         Scenario s = Valid(attacker, attacker.LeafSpec("/a"));
         s.chain.push_back(s.roots[0]);  // the attacker's root, kept by Valid()
         s.owned.push_back(Keep(shop.root()));
         s.roots = {s.owned.back().x509()};
         return s;
       },
       VerifyReason::kUntrustedChain, openssl3::kSelfSignedCertInChain},
      {"TamperedLeafSignature",
       [] {
         Scenario s = LeafWith([](CertSpec&) {});
         X509* leaf = s.chain[0];
         bssl::UniquePtr<ASN1_INTEGER> serial(ASN1_INTEGER_new());
         ASN1_INTEGER_set(serial.get(), 4242);
         X509_set_serialNumber(leaf, serial.get());
         // Re-encode so the PEM carries the changed serial with the old signature.
         bssl::UniquePtr<X509> reparsed = *ParseDerCertificate(CertificateToDer(leaf));
         s.owned.push_back({std::move(reparsed), nullptr});
         s.chain[0] = s.owned.back().x509();
         return s;
       },
       VerifyReason::kUntrustedChain, openssl3::kCertSignatureFailure},
      {"IntermediateNotCa",
       [] {
         return IntermediateWith(
             [](CertSpec& s) { s.basic_constraints = BasicConstraints::kNotCa; });
       },
       VerifyReason::kUntrustedChain, openssl3::kInvalidCa},
      {"IntermediateWithoutKeyCertSign",
       [] {
         return IntermediateWith([](CertSpec& s) { s.key_usage = kDigitalSignature | kCrlSign; });
       },
       VerifyReason::kBadKeyUsage, openssl3::kInvalidCa},
      {"RootPathLenZeroAboveIntermediate",
       [] { return IntermediateWith([](CertSpec&) {}, [](CertSpec& s) { s.path_len = 0; }); },
       VerifyReason::kUntrustedChain, openssl3::kPathLengthExceeded},
      {"NameConstraintViolation",
       [] {
         Scenario s = IntermediateWith(
             [](CertSpec&) {}, [](CertSpec& s) { s.permitted_uri_hosts = {"bank.example"}; });
         return s;
       },
       VerifyReason::kUntrustedChain, openssl3::kPermittedViolation},
      {"Sha1SignedLeaf",
       [] { return LeafWith([](CertSpec& s) { s.digest = Digest::kSha1; }, PeerRole::kAny, 1); },
       VerifyReason::kWeakSignature, openssl3::kCaMdTooWeak},
      {"Rsa1024Leaf",
       [] {
         return LeafWith([](CertSpec& s) { s.key_type = KeyType::kRsa1024; }, PeerRole::kAny, 2);
       },
       VerifyReason::kWeakKey, openssl3::kEeKeyTooSmall},
      {"P224LeafAtAuthLevel3",
       [] {
         return LeafWith([](CertSpec& s) { s.key_type = KeyType::kEcP224; }, PeerRole::kAny, 3);
       },
       VerifyReason::kWeakKey, openssl3::kEeKeyTooSmall},
      {"ServerOnlyEkuAsClient",
       [] {
         return LeafWith(
             [](CertSpec& s) { s.extended_key_usage = std::vector<int>{NID_server_auth}; },
             PeerRole::kClient);
       },
       VerifyReason::kBadKeyUsage, openssl3::kInvalidPurpose},
      {"ClientOnlyEkuAsServer",
       [] {
         return LeafWith(
             [](CertSpec& s) { s.extended_key_usage = std::vector<int>{NID_client_auth}; },
             PeerRole::kServer);
       },
       VerifyReason::kBadKeyUsage, openssl3::kInvalidPurpose},
      // SPIFFE-only rules: OpenSSL accepts the chain, we reject for that rule alone.
      {"LeafIsCa",
       [] { return LeafWith([](CertSpec& s) { s.basic_constraints = BasicConstraints::kCa; }); },
       VerifyReason::kLeafIsCa, kOpensslOk},
      {"LeafWithKeyCertSign",
       [] { return LeafWith([](CertSpec& s) { s.key_usage = kDigitalSignature | kKeyCertSign; }); },
       VerifyReason::kLeafIsCa, kOpensslOk},
      {"LeafWithTwoUriSans",
       [] {
         return LeafWith([](CertSpec& s) { s.uri_sans.push_back("spiffe://shop.example/b"); });
       },
       VerifyReason::kBadSpiffeId, kOpensslOk},
      {"LeafWithInvalidSpiffeId",
       [] { return LeafWith([](CertSpec& s) { s.uri_sans = {"spiffe://shop.example/a//b"}; }); },
       VerifyReason::kBadSpiffeId, kOpensslOk},
      {"LeafOfAnotherTrustDomainUnderTheSameRoot",
       [] { return LeafWith([](CertSpec& s) { s.uri_sans = {"spiffe://bank.example/a"}; }); },
       VerifyReason::kWrongTrustDomain, kOpensslOk},
      {"LeafWithoutKeyUsage",
       [] { return LeafWith([](CertSpec& s) { s.key_usage = std::nullopt; }); },
       VerifyReason::kBadKeyUsage, kOpensslOk},
      {"LeafWithBareTrustDomainId",
       [] { return LeafWith([](CertSpec& s) { s.uri_sans = {"spiffe://shop.example"}; }); },
       VerifyReason::kBadSpiffeId, kOpensslOk},
      {"IntermediateWithoutKeyUsage",
       [] { return IntermediateWith([](CertSpec& s) { s.key_usage = std::nullopt; }); },
       VerifyReason::kBadKeyUsage, kOpensslOk},
  };
}

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class OpensslCrossCheckTest : public ::testing::TestWithParam<Case> {};

TEST_P(OpensslCrossCheckTest, AgreesWithOpensslVerify) {
  const Case& c = GetParam();
  Scenario s = c.build();
  TrustBundleSet::Builder builder;
  for (X509* root : s.roots) ASSERT_TRUE(builder.Add(s.bundle_domain, root).ok());
  SvidVerification ours =
      VerifySvidChain(s.chain, builder.Build(), {.now = kNow, .peer_role = s.role});
  EXPECT_EQ(ours.reason, c.ours) << ours.detail;

  const std::string dir = absl::StrCat(TmpDir(), "/", c.name);
  ASSERT_EQ(testing::RunCommand({"/bin/mkdir", "-p", dir}).exit_code, 0);
  OpensslVerdict theirs = RunOpensslVerify(dir, s);
  EXPECT_EQ(theirs.error, c.openssl_error) << theirs.output;
  // Chain-level verdicts must agree on accept vs. reject.
  if (c.openssl_error != kOpensslOk) EXPECT_FALSE(ours.ok());
}

INSTANTIATE_TEST_SUITE_P(Cases, OpensslCrossCheckTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace identity
}  // namespace palisade
