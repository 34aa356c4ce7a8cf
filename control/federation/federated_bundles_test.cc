#include "control/federation/federated_bundles.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "control/auth/refusal.h"
#include "control/federation/bundle_acceptance.h"
#include "tests/util/process.h"
#include "tests/util/test_pki.h"

namespace palisade::control::federation {
namespace {

using ::testing::HasSubstr;

identity::SpiffeBundle BundleOf(std::vector<const testing::TestPki*> pkis,
                                std::optional<uint64_t> sequence) {
  identity::SpiffeBundle b;
  b.trust_domain = "partner.test";
  for (const testing::TestPki* pki : pkis) {
    b.x509_authorities.push_back(bssl::UpRef(pki->root().cert));
  }
  b.sequence = sequence;
  return b;
}

class FederatedBundlesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("federated-bundles");
    domain_.trust_domain = "partner.test";
    domain_.bundle_endpoint_url = "https://127.0.0.1:1/";
    domain_.endpoint_spiffe_id = "spiffe://partner.test/palisade/control";
    domain_.initial_bundle_file = dir_ + "/initial.json";
    testing::WriteFileOrDie(domain_.initial_bundle_file,
                            identity::SerializeSpiffeBundle(BundleOf({&old_}, 5)));
  }
  std::unique_ptr<FederatedBundles> Open() {
    absl::StatusOr<std::unique_ptr<FederatedBundles>> opened =
        FederatedBundles::Open({domain_}, dir_ + "/state", absl::Now());
    EXPECT_TRUE(opened.ok()) << opened.status();
    return opened.ok() ? *std::move(opened) : nullptr;
  }
  std::string Offer(FederatedBundles& bundles, identity::SpiffeBundle b, bool* changed) {
    absl::Status s = bundles.Offer("partner.test", std::move(b), absl::Now(), changed);
    return s.ok() ? "ok" : auth::RefusalReason(s);
  }

  std::string dir_;
  FederatedDomain domain_;
  testing::TestPki old_{testing::TestPki::Options{.trust_domain = "partner.test"}};
  testing::TestPki new_{testing::TestPki::Options{.trust_domain = "partner.test"}};
  testing::TestPki stranger_{testing::TestPki::Options{.trust_domain = "stranger.test"}};
};

TEST_F(FederatedBundlesTest, AcceptsAHigherSequenceAndRefusesEachBadSuccessor) {
  std::unique_ptr<FederatedBundles> bundles = Open();
  ASSERT_NE(bundles, nullptr);
  const uint64_t start = bundles->generation();
  bool changed = false;
  EXPECT_EQ(Offer(*bundles, BundleOf({&old_}, 5), &changed), "ok");
  EXPECT_FALSE(changed);
  EXPECT_EQ(Offer(*bundles, BundleOf({&old_, &new_}, 4), &changed), "lower_sequence");
  EXPECT_EQ(Offer(*bundles, BundleOf({&old_, &new_}, std::nullopt), &changed), "lower_sequence");
  EXPECT_EQ(Offer(*bundles, BundleOf({&new_}, 5), &changed), "sequence_reused");
  identity::SpiffeBundle foreign = BundleOf({&stranger_}, 9);
  EXPECT_EQ(Offer(*bundles, std::move(foreign), &changed), "wrong_trust_domain");
  EXPECT_EQ(bundles->generation(), start);
  ASSERT_EQ(bundles->Roots().size(), 1u);
  EXPECT_EQ(bundles->Roots()[0].roots_der.size(), 1u);
  EXPECT_EQ(bundles->Status()[0].last_result, "wrong_trust_domain");

  EXPECT_EQ(Offer(*bundles, BundleOf({&old_, &new_}, 6), &changed), "ok");
  EXPECT_TRUE(changed);
  EXPECT_GT(bundles->generation(), start);
  EXPECT_EQ(bundles->Roots()[0].roots_der.size(), 2u);
  EXPECT_EQ(bundles->Status()[0].sequence, 6u);
  EXPECT_EQ(bundles->Status()[0].last_error, "");
}

TEST_F(FederatedBundlesTest, ARestartKeepsTheStoredBundleUnlessTheInitialOneIsNewer) {
  {
    std::unique_ptr<FederatedBundles> bundles = Open();
    bool changed = false;
    ASSERT_EQ(Offer(*bundles, BundleOf({&new_}, 8), &changed), "ok");
  }
  std::unique_ptr<FederatedBundles> again = Open();
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->Status()[0].sequence, 8u);
  EXPECT_EQ(again->Status()[0].source, "state");

  testing::WriteFileOrDie(domain_.initial_bundle_file,
                          identity::SerializeSpiffeBundle(BundleOf({&old_}, 9)));
  std::unique_ptr<FederatedBundles> newer = Open();
  ASSERT_NE(newer, nullptr);
  EXPECT_EQ(newer->Status()[0].sequence, 9u);
  EXPECT_EQ(newer->Status()[0].source, "initial_bundle_file");
}

TEST_F(FederatedBundlesTest, AMalformedStoredBundleRefusesToOpenNamingTheFile) {
  ASSERT_NE(Open(), nullptr);
  const std::string stored = dir_ + "/state/federation/partner.test.json";
  testing::WriteFileOrDie(stored, "{\"keys\": [");
  ::chmod(stored.c_str(), 0600);
  absl::StatusOr<std::unique_ptr<FederatedBundles>> opened =
      FederatedBundles::Open({domain_}, dir_ + "/state", absl::Now());
  ASSERT_FALSE(opened.ok());
  EXPECT_THAT(opened.status().message(), HasSubstr("\"" + stored + "\" is malformed"));
}

}  // namespace
}  // namespace palisade::control::federation
