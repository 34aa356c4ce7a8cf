#include "proxy/credentials/credential_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "identity/certificate.h"
#include "tests/util/test_pki.h"

namespace palisade::credentials {
namespace {

using testing::Credential;
using testing::TestPki;

class CredentialStoreTest : public ::testing::Test {
 protected:
  CredentialStoreTest() {
    TestPki::Options options;
    options.trust_domain = "cluster.local";
    options.now = now_;
    pki_ = TestPki(options);
  }

  CredentialMaterial Material(const Credential& leaf, const TestPki& pki) {
    CredentialMaterial m;
    for (X509* cert : pki.Chain(leaf)) m.chain.push_back(bssl::UpRef(cert));
    m.key = bssl::UpRef(leaf.key);
    identity::TrustBundleSet::Builder bundles;
    EXPECT_TRUE(bundles.Add(pki.trust_domain(), pki.root().x509()).ok());
    m.bundles = bundles.Build();
    m.source = "test";
    return m;
  }
  CredentialMaterial Material(const Credential& leaf) { return Material(leaf, pki_); }

  CredentialStore::Options StoreOptions() {
    CredentialStore::Options options;
    options.clock = [this] { return now_; };
    return options;
  }

  absl::Time now_ = absl::Now();
  TestPki pki_;
};

TEST_F(CredentialStoreTest, PublishesAValidSvidToSubscribers) {
  CredentialStore store(StoreOptions());
  std::vector<std::string> seen;
  store.Subscribe([&](const CredentialStore::Snapshot& s) { seen.push_back(s->serial); });
  const Credential leaf = pki_.IssueLeaf("/ns/shop/sa/cart");
  ASSERT_TRUE(store.Update(Material(leaf)).ok());
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], identity::SerialHex(leaf.x509()));
  ASSERT_NE(store.Current(), nullptr);
  EXPECT_EQ(store.Current()->spiffe_id.ToString(), "spiffe://cluster.local/ns/shop/sa/cart");
  EXPECT_NE(store.Current()->tls, nullptr);
}

TEST_F(CredentialStoreTest, KeepsLastGoodSnapshotWhenUpdateIsInvalid) {
  CredentialStore store(StoreOptions());
  const Credential good = pki_.IssueLeaf("/ns/shop/sa/cart");
  ASSERT_TRUE(store.Update(Material(good)).ok());
  const auto before = store.Current();

  // Key that does not match the leaf.
  CredentialMaterial mismatched = Material(pki_.IssueLeaf("/ns/shop/sa/cart"));
  mismatched.key = bssl::UpRef(good.key);
  mismatched.chain.front() = bssl::UpRef(pki_.IssueLeaf("/ns/shop/sa/cart").cert);
  const absl::Status s = store.Update(std::move(mismatched));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("does not match"), std::string::npos) << s;
  EXPECT_EQ(store.Current(), before);
  EXPECT_EQ(store.stats().rejected, 1u);
}

TEST_F(CredentialStoreTest, RefusesAnExpiredSvid) {
  CredentialStore store(StoreOptions());
  testing::CertSpec spec = pki_.LeafSpec("/ns/shop/sa/cart");
  spec.not_before = now_ - absl::Hours(2);
  spec.not_after = now_ - absl::Minutes(1);
  const absl::Status s = store.Update(Material(pki_.IssueLeaf(spec)));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("expired"), std::string::npos) << s;
  EXPECT_EQ(store.Current(), nullptr);
}

TEST_F(CredentialStoreTest, RefusesAnSvidThatIsNotValidUnderItsBundle) {
  CredentialStore store(StoreOptions());
  TestPki::Options other_options;
  other_options.trust_domain = "cluster.local";
  TestPki other(other_options);
  CredentialMaterial m = Material(pki_.IssueLeaf("/ns/shop/sa/cart"));
  identity::TrustBundleSet::Builder wrong;
  ASSERT_TRUE(wrong.Add("cluster.local", other.root().x509()).ok());
  m.bundles = wrong.Build();
  const absl::Status s = store.Update(std::move(m));
  EXPECT_NE(s.message().find("untrusted_chain"), std::string::npos) << s;
}

TEST_F(CredentialStoreTest, RefusesAnSvidForAnotherIdentityThanExpected) {
  CredentialStore::Options options = StoreOptions();
  options.expected_id = *identity::SpiffeId::Parse("spiffe://cluster.local/ns/shop/sa/cart");
  CredentialStore store(options);
  const absl::Status s = store.Update(Material(pki_.IssueLeaf("/ns/shop/sa/payments")));
  EXPECT_NE(s.message().find("expected spiffe://cluster.local/ns/shop/sa/cart"), std::string::npos)
      << s;
}

TEST_F(CredentialStoreTest, IdenticalMaterialPublishesNothingNew) {
  CredentialStore store(StoreOptions());
  int published = 0;
  store.Subscribe([&](const CredentialStore::Snapshot&) { ++published; });
  const Credential leaf = pki_.IssueLeaf("/a");
  ASSERT_TRUE(store.Update(Material(leaf)).ok());
  const auto first = store.Current();
  ASSERT_TRUE(store.Update(Material(leaf)).ok());  // the same files read again
  EXPECT_EQ(store.Current(), first);
  EXPECT_EQ(published, 1);
  ASSERT_TRUE(store.Update(Material(pki_.IssueLeaf("/a"))).ok());  // a new SVID is new
  EXPECT_EQ(published, 2);
}

TEST_F(CredentialStoreTest, CountsBundleGenerationsOnlyWhenRootsChange) {
  CredentialStore store(StoreOptions());
  ASSERT_TRUE(store.Update(Material(pki_.IssueLeaf("/a"))).ok());
  const uint64_t first = store.Current()->bundle_generation;
  ASSERT_TRUE(store.Update(Material(pki_.IssueLeaf("/a"))).ok());
  EXPECT_EQ(store.Current()->bundle_generation, first);

  // Add a second root (rollover): same SVID, new bundle.
  TestPki::Options next_options;
  next_options.trust_domain = "cluster.local";
  TestPki next(next_options);
  identity::TrustBundleSet::Builder both;
  ASSERT_TRUE(both.Add("cluster.local", pki_.root().x509()).ok());
  ASSERT_TRUE(both.Add("cluster.local", next.root().x509()).ok());
  ASSERT_TRUE(store.UpdateBundles(both.Build(), "test").ok());
  EXPECT_EQ(store.Current()->bundle_generation, first + 1);
  EXPECT_EQ(store.Current()->bundles.root_count(), 2u);
}

TEST_F(CredentialStoreTest, ReadersSeeWholeSnapshotsWhileAWriterPublishes) {
  CredentialStore store(StoreOptions());
  ASSERT_TRUE(store.Update(Material(pki_.IssueLeaf("/a"))).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    while (!stop) {
      auto s = store.Current();
      ASSERT_NE(s, nullptr);
      ASSERT_FALSE(s->serial.empty());
      ASSERT_EQ(s->serial, identity::SerialHex(s->leaf()));
      ++reads;
    }
  });
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(store.Update(Material(pki_.IssueLeaf("/a"))).ok());
  stop = true;
  reader.join();
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(store.stats().accepted, 21u);
}

TEST_F(CredentialStoreTest, ADenyListIsPublishedWithTheRunningSvidAndKeptAcrossRenewals) {
  CredentialStore store(StoreOptions());
  const std::string revoked = "spiffe://cluster.local/ns/shop/sa/revoked";
  // Before any SVID it waits: the first snapshot already carries it.
  store.UpdateDenyList(std::make_shared<const identity::DenyList>(
      1, identity::DenyList::Entries{{revoked, now_ + absl::Hours(1)}}));
  EXPECT_EQ(store.Current(), nullptr);
  std::vector<uint64_t> versions;
  store.Subscribe([&](const CredentialStore::Snapshot& s) {
    versions.push_back(s->deny_list != nullptr ? s->deny_list->version() : 0);
  });
  ASSERT_TRUE(store.Update(Material(pki_.IssueLeaf("/ns/shop/sa/cart"))).ok());
  const auto first = store.Current();
  ASSERT_NE(first->deny_list, nullptr);
  EXPECT_TRUE(first->deny_list->Contains(*identity::SpiffeId::Parse(revoked)));

  // A new list: same SVID, key and TLS contexts, a newer generation.
  store.UpdateDenyList(
      std::make_shared<const identity::DenyList>(2, identity::DenyList::Entries{}));
  const auto second = store.Current();
  EXPECT_EQ(second->serial, first->serial);
  EXPECT_EQ(second->tls, first->tls);
  EXPECT_EQ(second->bundle_generation, first->bundle_generation);
  EXPECT_GT(second->generation, first->generation);
  EXPECT_EQ(second->deny_list->version(), 2u);

  // A renewal keeps the list.
  ASSERT_TRUE(store.Update(Material(pki_.IssueLeaf("/ns/shop/sa/cart"))).ok());
  EXPECT_EQ(store.Current()->deny_list->version(), 2u);
  EXPECT_EQ(versions, (std::vector<uint64_t>{1, 2, 2}));
}

}  // namespace
}  // namespace palisade::credentials
