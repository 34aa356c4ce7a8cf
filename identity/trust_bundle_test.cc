#include "identity/trust_bundle.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "identity/certificate.h"
#include "tests/util/status_matchers.h"
#include "tests/util/test_pki.h"

namespace palisade {
namespace identity {
namespace {

using ::palisade::testing::StatusIs;
using ::palisade::testing::TestPki;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

size_t StoreSize(X509_STORE* store) { return sk_X509_OBJECT_num(X509_STORE_get0_objects(store)); }

class TrustBundleTest : public ::testing::Test {
 protected:
  TestPki shop_{{.trust_domain = "shop.example", .now = kNow}};
  TestPki shop_next_{{.trust_domain = "shop.example", .now = kNow}};  // rollover root
  TestPki bank_{{.trust_domain = "bank.example", .now = kNow}};
};

TEST_F(TrustBundleTest, EmptySetTrustsNothing) {
  TrustBundleSet set;
  EXPECT_TRUE(set.empty());
  EXPECT_EQ(set.root_count(), 0u);
  EXPECT_TRUE(set.TrustDomains().empty());
  EXPECT_EQ(set.RootsFor("shop.example"), nullptr);
  EXPECT_EQ(set.StoreFor("shop.example"), nullptr);
  EXPECT_TRUE(TrustBundleSet::Builder().Build().empty());
}

TEST_F(TrustBundleTest, GroupsRootsByTrustDomainWithSeveralRootsPerDomain) {
  TrustBundleSet::Builder builder;
  ASSERT_OK(builder.AddPem("shop.example", shop_.BundlePem() + shop_next_.BundlePem()));
  ASSERT_OK(builder.AddPem("bank.example", bank_.BundlePem()));
  TrustBundleSet set = builder.Build();

  EXPECT_THAT(set.TrustDomains(), ElementsAre("bank.example", "shop.example"));
  EXPECT_EQ(set.root_count(), 3u);
  const auto* shop_roots = set.RootsFor("shop.example");
  ASSERT_NE(shop_roots, nullptr);
  ASSERT_EQ(shop_roots->size(), 2u);
  EXPECT_EQ(X509_cmp((*shop_roots)[0].get(), shop_.root().x509()), 0);
  EXPECT_EQ(X509_cmp((*shop_roots)[1].get(), shop_next_.root().x509()), 0);
  EXPECT_THAT(
      set.Fingerprints(),
      ElementsAre(Pair("bank.example", ElementsAre(Sha256Fingerprint(bank_.root().x509()))),
                  Pair("shop.example", ElementsAre(Sha256Fingerprint(shop_.root().x509()),
                                                   Sha256Fingerprint(shop_next_.root().x509())))));
}

TEST_F(TrustBundleTest, BuildsOneStorePerDomainHoldingOnlyThatDomainsRoots) {
  TrustBundleSet::Builder builder;
  ASSERT_OK(builder.Add("shop.example", shop_.root().x509()));
  ASSERT_OK(builder.Add("shop.example", shop_next_.root().x509()));
  ASSERT_OK(builder.Add("bank.example", bank_.root().x509()));
  TrustBundleSet set = builder.Build();
  X509_STORE* shop_store = set.StoreFor("shop.example");
  X509_STORE* bank_store = set.StoreFor("bank.example");
  ASSERT_NE(shop_store, nullptr);
  ASSERT_NE(bank_store, nullptr);
  EXPECT_NE(shop_store, bank_store);
  EXPECT_EQ(StoreSize(shop_store), 2u);
  EXPECT_EQ(StoreSize(bank_store), 1u);
  EXPECT_EQ(set.StoreFor("shop.example"), shop_store);  // built once, not per call
  EXPECT_EQ(set.StoreFor("other.example"), nullptr);
}

TEST_F(TrustBundleTest, CopiesShareTheStoresAndOutliveTheOriginal) {
  TrustBundleSet::Builder builder;
  ASSERT_OK(builder.Add("shop.example", shop_.root().x509()));
  auto original = std::make_unique<TrustBundleSet>(builder.Build());
  X509_STORE* store = original->StoreFor("shop.example");
  TrustBundleSet copy = *original;
  original.reset();
  EXPECT_EQ(copy.StoreFor("shop.example"), store);
  EXPECT_EQ(StoreSize(store), 1u);
}

TEST_F(TrustBundleTest, TakesItsOwnReferenceToAddedRoots) {
  TrustBundleSet::Builder builder;
  {
    TestPki temporary({.trust_domain = "temp.example", .now = kNow});
    ASSERT_OK(builder.Add("temp.example", temporary.root().x509()));
  }
  TrustBundleSet set = builder.Build();
  ASSERT_NE(set.RootsFor("temp.example"), nullptr);
  EXPECT_EQ(SpiffeIdOf(set.RootsFor("temp.example")->front().get())->ToString(),
            "spiffe://temp.example");
}

TEST_F(TrustBundleTest, KeepsTheSameRootOnce) {
  TrustBundleSet::Builder builder;
  ASSERT_OK(builder.Add("shop.example", shop_.root().x509()));
  ASSERT_OK(builder.AddPem("shop.example", shop_.BundlePem()));
  EXPECT_EQ(builder.Build().root_count(), 1u);
}

TEST_F(TrustBundleTest, FingerprintOfNamesOnlyThisDomainsAnchors) {
  TrustBundleSet::Builder builder;
  ASSERT_OK(builder.Add("shop.example", shop_.root().x509()));
  TrustBundleSet set = builder.Build();
  X509* anchor = set.RootsFor("shop.example")->front().get();
  EXPECT_EQ(set.FingerprintOf("shop.example", anchor), Sha256Fingerprint(shop_.root().x509()));
  EXPECT_EQ(set.FingerprintOf("bank.example", anchor), "");
  EXPECT_EQ(set.FingerprintOf("shop.example", bank_.root().x509()), "");
}

TEST_F(TrustBundleTest, RejectsInvalidTrustDomainNamingTheRule) {
  TrustBundleSet::Builder builder;
  EXPECT_THAT(builder.AddPem("Shop.Example", shop_.BundlePem()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("lowercase")));
  EXPECT_THAT(builder.Add("spiffe://shop.example", shop_.root().x509()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bare name")));
  EXPECT_TRUE(builder.Build().empty());
}

TEST_F(TrustBundleTest, RejectsNonCaAnchorsAndAddsNothingFromThatPem) {
  testing::Credential leaf = shop_.IssueLeaf("/a");
  TrustBundleSet::Builder builder;
  EXPECT_THAT(builder.AddPem("shop.example", shop_.BundlePem() + CertificateToPem(leaf.x509())),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("trust bundle for \"shop.example\": certificate " +
                                 Sha256Fingerprint(leaf.x509()) + " is not a CA")));
  EXPECT_THAT(builder.Add("shop.example", nullptr), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_TRUE(builder.Build().empty());
}

TEST_F(TrustBundleTest, RejectsUnparsablePemNamingTheDomain) {
  TrustBundleSet::Builder builder;
  EXPECT_THAT(builder.AddPem("shop.example", "no pem here"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("trust bundle for \"shop.example\": no PEM")));
}

}  // namespace
}  // namespace identity
}  // namespace palisade
