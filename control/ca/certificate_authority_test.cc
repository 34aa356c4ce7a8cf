#include "control/ca/certificate_authority.h"

#include <sys/stat.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "control/state/state_files.h"
#include "gtest/gtest.h"
#include "identity/certificate.h"
#include "identity/csr.h"
#include "identity/keys.h"
#include "identity/svid_verifier.h"
#include "identity/trust_bundle.h"
#include "tests/util/status_matchers.h"
#include "tests/util/test_pki.h"

namespace palisade::control::ca {
namespace {

using ::palisade::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kTd[] = "example.org";

class CertificateAuthorityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = std::getenv("TEST_TMPDIR");
    static int counter = 0;
    dir_ = absl::StrCat(base != nullptr ? base : "/tmp", "/ca-", counter++);
    ASSERT_OK(state::EnsureDirectory(dir_, 0700));
  }

  CertificateAuthority::SelfManagedOptions Options() const {
    CertificateAuthority::SelfManagedOptions o;
    o.trust_domain = kTd;
    o.state_dir = dir_;
    return o;
  }

  identity::CheckedCsr Csr(const std::string& path) {
    auto key = identity::GenerateP256Key();
    auto der = identity::CreateCsrDer(key->get(), *identity::SpiffeId::FromParts(kTd, path));
    return *identity::ParseAndCheckCsr(*der);
  }

  // Verifies an issued SVID under the CA's current bundle.
  identity::SvidVerification Verify(const CertificateAuthority& ca, const IssuedSvid& svid) {
    identity::TrustBundleSet::Builder builder;
    for (const auto& root : ca.CurrentBundle().roots) EXPECT_OK(builder.Add(kTd, root.get()));
    std::vector<X509*> chain = {svid.leaf.get()};
    for (const auto& c : svid.intermediates) chain.push_back(c.get());
    identity::VerifyOptions options;
    options.now = now_;
    return identity::VerifySvidChain(chain, builder.Build(), options);
  }

  identity::LeafOptions Leaf() const {
    identity::LeafOptions o;
    o.now = now_;
    o.ttl = absl::Hours(1);
    return o;
  }

  std::string dir_;
  absl::Time now_ = absl::Now();
};

mode_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

TEST_F(CertificateAuthorityTest, FirstStartCreatesRootAndIntermediateWithPrivateKeys) {
  ASSERT_OK_AND_ASSIGN(auto ca, CertificateAuthority::OpenSelfManaged(Options(), now_));
  EXPECT_TRUE(ca->self_managed());
  EXPECT_EQ(ca->bundle_version(), 1u);
  EXPECT_EQ(ModeOf(dir_ + "/ca/gen-1/root.key"), 0600u);
  EXPECT_EQ(ModeOf(dir_ + "/ca/gen-1/intermediate.key"), 0600u);
  EXPECT_EQ(ModeOf(dir_ + "/ca/manifest.json"), 0600u);
  EXPECT_EQ(*state::ReadStateFile(dir_ + "/bundle.pem"), ca->BundlePem());
}

TEST_F(CertificateAuthorityTest, IssuedSvidVerifiesUnderTheBundle) {
  ASSERT_OK_AND_ASSIGN(auto ca, CertificateAuthority::OpenSelfManaged(Options(), now_));
  ASSERT_OK_AND_ASSIGN(IssuedSvid svid, ca->Issue(Csr("/ns/a/sa/b"), Leaf()));
  ASSERT_EQ(svid.intermediates.size(), 1u);
  const identity::SvidVerification v = Verify(*ca, svid);
  ASSERT_TRUE(v.ok()) << v.detail;
  EXPECT_EQ(v.svid->spiffe_id.ToString(), "spiffe://example.org/ns/a/sa/b");
  EXPECT_EQ(v.svid->root_fingerprint, ca->ActiveRootFingerprint());
  EXPECT_EQ(svid.root_fingerprint, ca->ActiveRootFingerprint());
}

TEST_F(CertificateAuthorityTest, RestartWithTheSameStateKeepsTheSameRoot) {
  std::string fingerprint;
  {
    ASSERT_OK_AND_ASSIGN(auto ca, CertificateAuthority::OpenSelfManaged(Options(), now_));
    fingerprint = ca->ActiveRootFingerprint();
  }
  ASSERT_OK_AND_ASSIGN(auto again, CertificateAuthority::OpenSelfManaged(Options(), now_));
  EXPECT_EQ(again->ActiveRootFingerprint(), fingerprint);
  EXPECT_EQ(again->bundle_version(), 1u);
}

TEST_F(CertificateAuthorityTest, RefusesACorruptKeyNamingTheFile) {
  { ASSERT_OK(CertificateAuthority::OpenSelfManaged(Options(), now_).status()); }
  const std::string key = dir_ + "/ca/gen-1/intermediate.key";
  std::string pem = *state::ReadStateFile(key);
  pem[40] ^= 1;
  ASSERT_OK(state::WriteFileAtomically(key, pem, 0600));
  EXPECT_THAT(CertificateAuthority::OpenSelfManaged(Options(), now_),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       ::testing::AllOf(HasSubstr(key), HasSubstr("SHA-256"))));
}

TEST_F(CertificateAuthorityTest, RefusesATruncatedManifest) {
  { ASSERT_OK(CertificateAuthority::OpenSelfManaged(Options(), now_).status()); }
  const std::string manifest = dir_ + "/ca/manifest.json";
  const std::string text = *state::ReadStateFile(manifest);
  ASSERT_OK(state::WriteFileAtomically(manifest, text.substr(0, text.size() / 2), 0600));
  EXPECT_THAT(CertificateAuthority::OpenSelfManaged(Options(), now_),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       ::testing::AllOf(HasSubstr(manifest), HasSubstr("not valid JSON"))));
}

TEST_F(CertificateAuthorityTest, RefusesHalfWrittenFirstStartInsteadOfMakingANewRoot) {
  { ASSERT_OK(CertificateAuthority::OpenSelfManaged(Options(), now_).status()); }
  ASSERT_EQ(::unlink((dir_ + "/ca/manifest.json").c_str()), 0);
  EXPECT_THAT(CertificateAuthority::OpenSelfManaged(Options(), now_),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       ::testing::AllOf(HasSubstr("manifest.json"), HasSubstr("half-written"))));
}

TEST_F(CertificateAuthorityTest, RefusesAMissingFileListedInTheManifest) {
  { ASSERT_OK(CertificateAuthority::OpenSelfManaged(Options(), now_).status()); }
  const std::string root = dir_ + "/ca/gen-1/root.pem";
  ASSERT_EQ(::unlink(root.c_str()), 0);
  EXPECT_THAT(CertificateAuthority::OpenSelfManaged(Options(), now_),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       ::testing::AllOf(HasSubstr(root), HasSubstr("missing"))));
}

TEST_F(CertificateAuthorityTest, RefusesStateMadeForAnotherTrustDomain) {
  { ASSERT_OK(CertificateAuthority::OpenSelfManaged(Options(), now_).status()); }
  auto options = Options();
  options.trust_domain = "other.org";
  EXPECT_THAT(CertificateAuthority::OpenSelfManaged(options, now_),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("other.org")));
}

TEST_F(CertificateAuthorityTest, RolloverAddsActivatesAndRetiresWithPersistedSteps) {
  ASSERT_OK_AND_ASSIGN(auto ca, CertificateAuthority::OpenSelfManaged(Options(), now_));
  const std::string old_root = ca->ActiveRootFingerprint();
  ASSERT_OK_AND_ASSIGN(std::string new_root, ca->AddNextRoot(now_));
  EXPECT_NE(new_root, old_root);
  EXPECT_EQ(ca->bundle_version(), 2u);
  EXPECT_EQ(ca->CurrentBundle().roots.size(), 2u);
  EXPECT_EQ(ca->ActiveRootFingerprint(), old_root);  // still issuing from the old one
  ASSERT_OK_AND_ASSIGN(std::string again, ca->AddNextRoot(now_));
  EXPECT_EQ(again, new_root);  // idempotent

  ASSERT_OK(ca->ActivateNewest());
  EXPECT_EQ(ca->ActiveRootFingerprint(), new_root);
  EXPECT_EQ(ca->InactiveFingerprints(), std::vector<std::string>{old_root});
  ASSERT_OK_AND_ASSIGN(IssuedSvid svid, ca->Issue(Csr("/x"), Leaf()));
  EXPECT_EQ(svid.root_fingerprint, new_root);
  EXPECT_TRUE(Verify(*ca, svid).ok());

  // A restart in the middle keeps the step reached.
  ca.reset();
  ASSERT_OK_AND_ASSIGN(ca, CertificateAuthority::OpenSelfManaged(Options(), now_));
  EXPECT_EQ(ca->ActiveRootFingerprint(), new_root);
  EXPECT_EQ(ca->CurrentBundle().roots.size(), 2u);

  ASSERT_OK(ca->RetireInactive());
  EXPECT_EQ(ca->bundle_version(), 3u);
  EXPECT_EQ(ca->CurrentBundle().fingerprints, std::vector<std::string>{new_root});
  EXPECT_EQ(identity::ParsePemCertificates(*state::ReadStateFile(dir_ + "/bundle.pem"))->size(),
            1u);
}

TEST_F(CertificateAuthorityTest, RenewsTheIntermediateUnderTheSameRootWhenTwoThirdsAreUsed) {
  auto options = Options();
  options.intermediate_ttl = absl::Hours(3);
  ASSERT_OK_AND_ASSIGN(auto ca, CertificateAuthority::OpenSelfManaged(options, now_));
  const std::string root = ca->ActiveRootFingerprint();
  ASSERT_OK_AND_ASSIGN(IssuedSvid before, ca->Issue(Csr("/a"), Leaf()));
  ASSERT_OK_AND_ASSIGN(bool renewed, ca->RenewIntermediateIfDue(now_ + absl::Hours(1)));
  EXPECT_FALSE(renewed);
  const absl::Time later = now_ + absl::Hours(2) + absl::Minutes(5);
  ASSERT_OK_AND_ASSIGN(renewed, ca->RenewIntermediateIfDue(later));
  EXPECT_TRUE(renewed);
  EXPECT_EQ(ca->ActiveRootFingerprint(), root);
  EXPECT_EQ(ca->bundle_version(), 1u);  // the bundle did not change
  now_ = later;
  ASSERT_OK_AND_ASSIGN(IssuedSvid after, ca->Issue(Csr("/a"), Leaf()));
  EXPECT_NE(identity::Sha256Fingerprint(after.intermediates[0].get()),
            identity::Sha256Fingerprint(before.intermediates[0].get()));
  EXPECT_TRUE(Verify(*ca, after).ok());
  EXPECT_FALSE(state::PathExists(dir_ + "/ca/gen-1/intermediate.key"));
  // A restart loads the renewed intermediate.
  ca.reset();
  ASSERT_OK_AND_ASSIGN(ca, CertificateAuthority::OpenSelfManaged(options, later));
  ASSERT_OK_AND_ASSIGN(IssuedSvid reloaded, ca->Issue(Csr("/a"), Leaf()));
  EXPECT_EQ(identity::Sha256Fingerprint(reloaded.intermediates[0].get()),
            identity::Sha256Fingerprint(after.intermediates[0].get()));
}

TEST_F(CertificateAuthorityTest, PluginModeIssuesUnderTheOperatorsRoot) {
  palisade::testing::TestPki pki({.trust_domain = kTd, .now = now_});
  const std::string cert = dir_ + "/op-int.pem", key = dir_ + "/op-int.key",
                    bundle = dir_ + "/op-root.pem";
  palisade::testing::WriteFileOrDie(cert, identity::CertificateToPem(pki.intermediate().x509()));
  palisade::testing::WriteFileOrDie(key, palisade::testing::PemOf(pki.intermediate().key.get()));
  palisade::testing::WriteFileOrDie(bundle, pki.BundlePem());
  CertificateAuthority::PluginOptions options{kTd, dir_, cert, key, "", bundle};
  ASSERT_OK_AND_ASSIGN(auto ca, CertificateAuthority::OpenPlugin(options, now_));
  EXPECT_FALSE(ca->self_managed());
  EXPECT_EQ(ca->ActiveRootFingerprint(), identity::Sha256Fingerprint(pki.root().x509()));
  ASSERT_OK_AND_ASSIGN(IssuedSvid svid, ca->Issue(Csr("/w"), Leaf()));
  EXPECT_TRUE(Verify(*ca, svid).ok());
  EXPECT_THAT(ca->AddNextRoot(now_), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(CertificateAuthorityTest, PluginModeRefusesAKeyThatDoesNotMatch) {
  palisade::testing::TestPki pki({.trust_domain = kTd, .now = now_});
  const std::string cert = dir_ + "/op-int.pem", key = dir_ + "/op-int.key",
                    bundle = dir_ + "/op-root.pem";
  palisade::testing::WriteFileOrDie(cert, identity::CertificateToPem(pki.intermediate().x509()));
  palisade::testing::WriteFileOrDie(key, palisade::testing::PemOf(pki.root().key.get()));
  palisade::testing::WriteFileOrDie(bundle, pki.BundlePem());
  CertificateAuthority::PluginOptions options{kTd, dir_, cert, key, "", bundle};
  EXPECT_THAT(CertificateAuthority::OpenPlugin(options, now_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::AllOf(HasSubstr(key), HasSubstr("does not match"))));
}

TEST_F(CertificateAuthorityTest, PluginModeRefusesABundleTheChainDoesNotReach) {
  palisade::testing::TestPki pki({.trust_domain = kTd, .now = now_});
  palisade::testing::TestPki other({.trust_domain = kTd, .now = now_});
  const std::string cert = dir_ + "/op-int.pem", key = dir_ + "/op-int.key",
                    bundle = dir_ + "/op-root.pem";
  palisade::testing::WriteFileOrDie(cert, identity::CertificateToPem(pki.intermediate().x509()));
  palisade::testing::WriteFileOrDie(key, palisade::testing::PemOf(pki.intermediate().key.get()));
  palisade::testing::WriteFileOrDie(bundle, other.BundlePem());
  CertificateAuthority::PluginOptions options{kTd, dir_, cert, key, "", bundle};
  EXPECT_THAT(CertificateAuthority::OpenPlugin(options, now_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not verify")));
}

}  // namespace
}  // namespace palisade::control::ca
