#include "proxy/identity_client/watch_messages.h"

#include <gtest/gtest.h>

#include "identity/certificate.h"
#include "tests/util/status_matchers.h"
#include "tests/util/test_pki.h"

namespace palisade::identity_client {
namespace {

using ::palisade::testing::IsOk;
using ::palisade::testing::StatusIs;
using ::palisade::testing::TestPki;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TestPki Pki(const std::string& trust_domain) {
  TestPki::Options options;
  options.trust_domain = trust_domain;
  return TestPki(options);
}

TEST(WatchMessagesTest, ReadsEveryRootOfEveryTrustDomain) {
  TestPki a = Pki("a.example"), a_next = Pki("a.example"), b = Pki("b.example");
  control::v1::TrustBundleUpdate update;
  update.set_version(3);
  control::v1::TrustDomainBundle* domain_a = update.add_trust_domains();
  domain_a->set_trust_domain("a.example");
  domain_a->add_root_certificates_der(identity::CertificateToDer(a.root().x509()));
  domain_a->add_root_certificates_der(identity::CertificateToDer(a_next.root().x509()));
  control::v1::TrustDomainBundle* domain_b = update.add_trust_domains();
  domain_b->set_trust_domain("b.example");
  domain_b->add_root_certificates_der(identity::CertificateToDer(b.root().x509()));

  auto bundles = BundleFromProto(update);
  ASSERT_THAT(bundles, IsOk());
  EXPECT_THAT(bundles->TrustDomains(), ElementsAre("a.example", "b.example"));
  EXPECT_EQ(bundles->root_count(), 3u);
  EXPECT_EQ(bundles->Fingerprints().at("a.example")[1],
            identity::Sha256Fingerprint(a_next.root().x509()));
}

TEST(WatchMessagesTest, RefusesTheWholeUpdateForOneBadRoot) {
  TestPki a = Pki("a.example");
  control::v1::TrustBundleUpdate update;
  update.set_version(9);
  control::v1::TrustDomainBundle* domain = update.add_trust_domains();
  domain->set_trust_domain("a.example");
  domain->add_root_certificates_der(identity::CertificateToDer(a.root().x509()));
  domain->add_root_certificates_der("not DER");
  EXPECT_THAT(BundleFromProto(update),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("version 9"), HasSubstr("a.example"), HasSubstr("root 1"))));
}

TEST(WatchMessagesTest, RefusesALeafAsARoot) {
  TestPki a = Pki("a.example");
  control::v1::TrustBundleUpdate update;
  control::v1::TrustDomainBundle* domain = update.add_trust_domains();
  domain->set_trust_domain("a.example");
  domain->add_root_certificates_der(identity::CertificateToDer(a.IssueLeaf("/x").x509()));
  EXPECT_THAT(BundleFromProto(update), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(WatchMessagesTest, RefusesAnEmptyBundle) {
  control::v1::TrustBundleUpdate update;
  update.set_version(4);
  update.add_trust_domains()->set_trust_domain("a.example");
  EXPECT_THAT(BundleFromProto(update),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no root")));
}

TEST(WatchMessagesTest, TurnsAnSvidUpdateIntoMaterialWithTheLocalKey) {
  TestPki a = Pki("a.example");
  const testing::Credential leaf = a.IssueLeaf("/x");
  control::v1::SvidUpdate update;
  for (X509* cert : a.Chain(leaf))
    update.add_certificate_chain_der(identity::CertificateToDer(cert));
  identity::TrustBundleSet::Builder builder;
  ASSERT_THAT(builder.Add("a.example", a.root().x509()), IsOk());
  auto material = MaterialFromSvidUpdate(update, *identity::SpiffeId::Parse("spiffe://a.example/x"),
                                         bssl::UpRef(leaf.key), builder.Build());
  ASSERT_THAT(material, IsOk());
  ASSERT_EQ(material->chain.size(), 2u);
  EXPECT_EQ(identity::SerialHex(material->chain[0].get()), identity::SerialHex(leaf.x509()));
  EXPECT_EQ(material->key.get(), leaf.key.get());
  EXPECT_EQ(material->bundles.root_count(), 1u);
  EXPECT_EQ(material->source, "control-plane");
}

TEST(WatchMessagesTest, RefusesAnSvidUpdateWithABadOrNoCertificate) {
  const identity::SpiffeId x = *identity::SpiffeId::Parse("spiffe://a.example/x");
  control::v1::SvidUpdate update;
  EXPECT_THAT(MaterialFromSvidUpdate(update, x, nullptr, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no certificate")));
  update.add_certificate_chain_der("junk");
  EXPECT_THAT(MaterialFromSvidUpdate(update, x, nullptr, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("certificate 0")));
}

TEST(WatchMessagesTest, RefusesAnSvidForAnotherIdentityThanRequested) {
  TestPki a = Pki("a.example");
  const testing::Credential leaf = a.IssueLeaf("/someone/else");
  control::v1::SvidUpdate update;
  update.add_certificate_chain_der(identity::CertificateToDer(leaf.x509()));
  EXPECT_THAT(MaterialFromSvidUpdate(update, *identity::SpiffeId::Parse("spiffe://a.example/x"),
                                     bssl::UpRef(leaf.key), {}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("is for spiffe://a.example/someone/else"),
                             HasSubstr("asked for spiffe://a.example/x"))));
}

TEST(WatchMessagesTest, ReadsTheRenewalHintToTheNanosecond) {
  control::v1::SvidUpdate update;
  EXPECT_FALSE(RenewAfterOf(update).has_value());
  update.mutable_renew_after()->set_seconds(1'700'000'000);
  update.mutable_renew_after()->set_nanos(250);
  EXPECT_EQ(RenewAfterOf(update), absl::FromUnixSeconds(1'700'000'000) + absl::Nanoseconds(250));
}

TEST(WatchMessagesTest, ReportsConnectionsByRoot) {
  const control::v1::ConnectionReport report = ConnectionReportOf({{"aa11", 3}, {"bb22", 0}});
  ASSERT_EQ(report.roots_size(), 2);
  EXPECT_EQ(report.roots(0).fingerprint_sha256(), "aa11");
  EXPECT_EQ(report.roots(0).live_connections(), 3u);
  EXPECT_EQ(report.roots(1).fingerprint_sha256(), "bb22");
}

TEST(WatchMessagesTest, ReadsADenyListAndRefusesItWholeForOneBadId) {
  control::v1::DenyList update;
  update.set_version(4);
  control::v1::RevokedIdentity* entry = update.add_entries();
  entry->set_spiffe_id("spiffe://example.org/ns/a/sa/revoked");
  entry->mutable_expires_at()->set_seconds(1'800'000'000);
  absl::StatusOr<std::shared_ptr<const identity::DenyList>> list = DenyListFromProto(update);
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ((*list)->version(), 4u);
  EXPECT_TRUE(
      (*list)->Contains(*identity::SpiffeId::Parse("spiffe://example.org/ns/a/sa/revoked")));
  EXPECT_EQ((*list)->entries().at("spiffe://example.org/ns/a/sa/revoked"),
            absl::FromUnixSeconds(1'800'000'000));

  update.add_entries()->set_spiffe_id("https://example.org/x");
  list = DenyListFromProto(update);
  ASSERT_FALSE(list.ok());
  EXPECT_NE(list.status().message().find("deny-list version 4, entry 1"), std::string::npos)
      << list.status();
}

}  // namespace
}  // namespace palisade::identity_client
