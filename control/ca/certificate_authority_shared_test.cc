// The self-managed CA in the shared store (--store=etcd) against a real
// three-member etcd: one CA for every replica, created once; every step a
// compare-and-swap that a replica holding an older revision loses without
// redoing it; private keys only sealed; a wrong KEK, a malformed or foreign
// record refused naming the key and left as it is.
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "control/ca/certificate_authority.h"
#include "control/state/etcd/etcd_store.h"
#include "control/state/etcd/leader_lease.h"
#include "identity/csr.h"
#include "identity/keys.h"
#include "identity/spiffe_id.h"
#include "identity/svid_verifier.h"
#include "identity/trust_bundle.h"
#include "tests/util/etcd_cluster.h"
#include "tests/util/process.h"
#include "tests/util/status_matchers.h"

namespace palisade::control::ca {
namespace {

using ::testing::HasSubstr;

constexpr char kTd[] = "example.org";
constexpr char kPrefix[] = "/palisade/example.org/";

class SharedCaTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto etcd = testing::EtcdCluster::Start(testing::MakeTempDir("shared-ca-etcd"));
    ASSERT_OK(etcd.status());
    etcd_ = etcd->release();
  }
  static void TearDownTestSuite() {
    delete etcd_;
    etcd_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(etcd_, nullptr);
    // Each test its own prefix: they share one cluster.
    prefix_ = absl::StrCat(kPrefix, "t", counter_++, "/");
    key_ = prefix_ + "ca/state";
  }

  std::unique_ptr<state::etcd::EtcdStore> Store(const std::string& prefix = "") {
    state::etcd::EtcdClientOptions o;
    o.endpoints = absl::StrSplit(etcd_->Endpoints(), ',');
    auto store = state::etcd::EtcdStore::Create(o, prefix.empty() ? prefix_ : prefix);
    EXPECT_OK(store.status());
    return store.ok() ? *std::move(store) : nullptr;
  }

  CertificateAuthority::SharedOptions Options(state::SharedStore* store,
                                              const std::string& kek = std::string(32, 'k'),
                                              const std::string& td = kTd) {
    CertificateAuthority::SharedOptions o;
    o.trust_domain = td;
    o.state_dir = testing::MakeTempDir("shared-ca");
    o.store = store;
    o.kek = kek;
    return o;
  }

  std::optional<state::StoredRecord> Record(state::SharedStore* store) {
    auto r = store->Get("ca/state");
    EXPECT_OK(r.status());
    return r.ok() ? *r : std::nullopt;
  }

  static identity::CheckedCsr Csr(const std::string& path) {
    auto key = identity::GenerateP256Key();
    auto der = identity::CreateCsrDer(key->get(), *identity::SpiffeId::FromParts(kTd, path));
    return *identity::ParseAndCheckCsr(*der);
  }
  // An SVID `issuer` makes verifies under `bundle_of`'s bundle.
  static bool IssuesUnder(const CertificateAuthority& issuer,
                          const CertificateAuthority& bundle_of) {
    identity::LeafOptions leaf;
    leaf.now = absl::Now();
    leaf.ttl = absl::Hours(1);
    auto svid = issuer.Issue(Csr("/w"), leaf);
    if (!svid.ok()) return false;
    identity::TrustBundleSet::Builder builder;
    for (const auto& root : bundle_of.CurrentBundle().roots) {
      if (!builder.Add(kTd, root.get()).ok()) return false;
    }
    std::vector<X509*> chain = {svid->leaf.get()};
    for (const auto& c : svid->intermediates) chain.push_back(c.get());
    identity::VerifyOptions options;
    options.now = absl::Now();
    return identity::VerifySvidChain(chain, builder.Build(), options).ok();
  }

  static testing::EtcdCluster* etcd_;
  static int counter_;
  std::string prefix_;
  std::string key_;
};

testing::EtcdCluster* SharedCaTest::etcd_ = nullptr;
int SharedCaTest::counter_ = 0;

TEST_F(SharedCaTest, ConcurrentFirstStartsMakeOneCaAndKeysAreOnlySealed) {
  auto s1 = Store();
  auto s2 = Store();
  auto s3 = Store();
  absl::StatusOr<std::unique_ptr<CertificateAuthority>> a, b, c;
  {
    std::thread t1([&] { a = CertificateAuthority::OpenShared(Options(s1.get()), absl::Now()); });
    std::thread t2([&] { b = CertificateAuthority::OpenShared(Options(s2.get()), absl::Now()); });
    std::thread t3([&] { c = CertificateAuthority::OpenShared(Options(s3.get()), absl::Now()); });
    t1.join();
    t2.join();
    t3.join();
  }
  ASSERT_OK(a.status());
  ASSERT_OK(b.status());
  ASSERT_OK(c.status());
  EXPECT_EQ((*a)->ActiveRootFingerprint(), (*b)->ActiveRootFingerprint());
  EXPECT_EQ((*a)->ActiveRootFingerprint(), (*c)->ActiveRootFingerprint());
  EXPECT_TRUE(IssuesUnder(**b, **a));
  EXPECT_TRUE(IssuesUnder(**a, **c));
  auto record = Record(s1.get());
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->value.find("PRIVATE KEY"), std::string::npos);
  nlohmann::json doc = nlohmann::json::parse(record->value);
  EXPECT_EQ(doc["schema"], 1);
  EXPECT_EQ(doc["type"], "ca");
  ASSERT_EQ(doc["generations"].size(), 1u);
  std::string raw;
  ASSERT_TRUE(
      absl::Base64Unescape(doc["generations"][0]["root_key_sealed"].get<std::string>(), &raw));
  EXPECT_GT(raw.size(), 12u + 16u);  // nonce, ciphertext, tag
  EXPECT_EQ(raw.find("PRIVATE"), std::string::npos);
}

TEST_F(SharedCaTest, AStepLostToAnotherReplicaIsTakenNotRedone) {
  auto s1 = Store();
  auto s2 = Store();
  ASSERT_OK_AND_ASSIGN(auto a, CertificateAuthority::OpenShared(Options(s1.get()), absl::Now()));
  ASSERT_OK_AND_ASSIGN(auto b, CertificateAuthority::OpenShared(Options(s2.get()), absl::Now()));
  ASSERT_OK_AND_ASSIGN(std::string next, a->AddNextRoot(absl::Now()));
  // b still holds the first revision: its CAS loses, it takes a's root.
  ASSERT_OK_AND_ASSIGN(std::string b_next, b->AddNextRoot(absl::Now()));
  EXPECT_EQ(b_next, next);
  nlohmann::json doc = nlohmann::json::parse(Record(s1.get())->value);
  EXPECT_EQ(doc["generations"].size(), 2u);
  EXPECT_EQ(doc["bundle_version"], 2u);
  EXPECT_EQ(b->bundle_version(), 2u);
  ASSERT_OK(a->ActivateNewest());
  ASSERT_OK(b->ActivateNewest());  // already done by a: taken, not redone
  EXPECT_EQ(b->ActiveRootFingerprint(), next);
  const int64_t before = Record(s1.get())->revision;
  ASSERT_OK(b->RetireInactive());
  ASSERT_OK(a->RetireInactive());  // lost: takes b's record
  EXPECT_EQ(a->CurrentBundle().fingerprints, std::vector<std::string>{next});
  EXPECT_EQ(Record(s1.get())->revision, before + 1) << "one write for the retire step";
  EXPECT_EQ(a->bundle_version(), 3u);
  EXPECT_TRUE(IssuesUnder(*a, *b));
}

// A leader that stalled (SIGSTOP, a long pause) past its lease still
// believes it leads when it resumes; its CA record write inside a rollover
// step must be refused by etcd once another replica leads.
TEST_F(SharedCaTest, ALeaderStepOfAStalledLeaderIsRefusedAfterAnotherTookOver) {
  auto s1 = Store();
  auto s2 = Store();
  auto lease_client = [&] {
    state::etcd::EtcdClientOptions o;
    o.endpoints = absl::StrSplit(etcd_->Endpoints(), ',');
    auto client = state::etcd::EtcdClient::Create(o);
    EXPECT_OK(client.status());
    return *std::move(client);
  };
  // a's thread polls once a minute: once it leads it does not look again
  // within this test, like a process paused between its check and its write.
  state::etcd::LeaderLease a_lease(lease_client(),
                                   {prefix_ + "leader", "a", absl::Seconds(30), absl::Seconds(60)});
  a_lease.Start();
  ASSERT_TRUE(testing::WaitFor([&] { return a_lease.IsLeader(); }, absl::Seconds(20)));
  ASSERT_OK_AND_ASSIGN(auto a, CertificateAuthority::OpenShared(Options(s1.get()), absl::Now()));
  a->SetLeaderWrites(&a_lease);
  ASSERT_OK_AND_ASSIGN(std::string next, a->AddNextRoot(absl::Now()));
  // etcd expires a's lease (revoked here, as its TTL would); b takes over.
  ASSERT_OK(lease_client()->RevokeLease(a_lease.lease_id()));
  state::etcd::LeaderLease b_lease(lease_client(), {prefix_ + "leader", "b", absl::Seconds(2)});
  b_lease.Start();
  ASSERT_TRUE(testing::WaitFor([&] { return b_lease.IsLeader(); }, absl::Seconds(20)));
  ASSERT_TRUE(a_lease.IsLeader()) << "a must still believe it leads for this test";
  const state::StoredRecord before = *Record(s1.get());

  const absl::Status step = a->ActivateNewest();
  EXPECT_THAT(step.message(), HasSubstr("no longer leads"));
  EXPECT_EQ(Record(s1.get())->revision, before.revision)
      << "a former leader's CA record write was applied";
  EXPECT_NE(a->ActiveRootFingerprint(), next) << "the refused step is not done";

  // The new leader's step goes through.
  ASSERT_OK_AND_ASSIGN(auto b, CertificateAuthority::OpenShared(Options(s2.get()), absl::Now()));
  b->SetLeaderWrites(&b_lease);
  ASSERT_OK(b->ActivateNewest());
  EXPECT_EQ(b->ActiveRootFingerprint(), next);
  EXPECT_GT(Record(s1.get())->revision, before.revision);
  a_lease.Stop(/*resign=*/false);
}

TEST_F(SharedCaTest, ReloadTakesANewerRecordAndRefusesABadOneKeepingTheCa) {
  auto s1 = Store();
  auto s2 = Store();
  ASSERT_OK_AND_ASSIGN(auto a, CertificateAuthority::OpenShared(Options(s1.get()), absl::Now()));
  ASSERT_OK_AND_ASSIGN(auto b, CertificateAuthority::OpenShared(Options(s2.get()), absl::Now()));
  ASSERT_OK_AND_ASSIGN(std::string next, a->AddNextRoot(absl::Now()));
  ASSERT_OK(a->ActivateNewest());
  std::vector<state::StoredRecord> records = {*Record(s1.get())};
  ASSERT_OK_AND_ASSIGN(bool changed, b->ReloadFromStore(records, absl::Now()));
  EXPECT_TRUE(changed);
  EXPECT_EQ(b->ActiveRootFingerprint(), next);
  ASSERT_OK_AND_ASSIGN(changed, b->ReloadFromStore(records, absl::Now()));
  EXPECT_FALSE(changed) << "the same revision again";
  records[0].revision += 1;
  records[0].value = "{not json";
  absl::StatusOr<bool> bad = b->ReloadFromStore(records, absl::Now());
  EXPECT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr(key_));
  EXPECT_EQ(b->ActiveRootFingerprint(), next);
  EXPECT_TRUE(IssuesUnder(*b, *a));
}

TEST_F(SharedCaTest, WrongKekIsRefusedNamingTheKeyAndTheRecordStays) {
  auto s1 = Store();
  ASSERT_OK(CertificateAuthority::OpenShared(Options(s1.get()), absl::Now()).status());
  const int64_t revision = Record(s1.get())->revision;
  absl::StatusOr<std::unique_ptr<CertificateAuthority>> wrong =
      CertificateAuthority::OpenShared(Options(s1.get(), std::string(32, 'w')), absl::Now());
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(wrong.status().message(), HasSubstr(key_));
  EXPECT_THAT(wrong.status().message(), HasSubstr("--ca_kek_file"));
  EXPECT_EQ(Record(s1.get())->revision, revision);
}

TEST_F(SharedCaTest, ForeignOrMalformedRecordIsRefusedAndLeftAsItIs) {
  auto s1 = Store();
  // Made for another trust domain under this prefix.
  ASSERT_OK(CertificateAuthority::OpenShared(Options(s1.get(), std::string(32, 'k'), "other.org"),
                                             absl::Now())
                .status());
  const int64_t revision = Record(s1.get())->revision;
  absl::StatusOr<std::unique_ptr<CertificateAuthority>> foreign =
      CertificateAuthority::OpenShared(Options(s1.get()), absl::Now());
  ASSERT_FALSE(foreign.ok());
  EXPECT_THAT(foreign.status().message(), HasSubstr(key_));
  EXPECT_THAT(foreign.status().message(), HasSubstr("other.org"));
  EXPECT_EQ(Record(s1.get())->revision, revision);

  int64_t written = 0;
  ASSERT_OK_AND_ASSIGN(bool put, s1->PutIf("ca/state", "{\"schema\":1", revision, &written));
  ASSERT_TRUE(put);
  absl::StatusOr<std::unique_ptr<CertificateAuthority>> malformed =
      CertificateAuthority::OpenShared(Options(s1.get()), absl::Now());
  ASSERT_FALSE(malformed.ok());
  EXPECT_THAT(malformed.status().message(), HasSubstr(key_));
  EXPECT_EQ(Record(s1.get())->revision, written);
  EXPECT_EQ(Record(s1.get())->value, "{\"schema\":1");
}

}  // namespace
}  // namespace palisade::control::ca
