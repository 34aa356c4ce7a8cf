#include "proxy/identity_client/control_plane_source.h"

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "proxy/identity_client/control_plane_source_fixture.h"
#include "runtime/net/socket_address.h"
#include "runtime/net/sockets.h"

namespace palisade::identity_client::source_testing {
namespace {

using ::testing::HasSubstr;

TEST_F(ControlPlaneSourceTest, ObtainsItsFirstSvidWithTheJoinTokenThenReconnectsOverMtls) {
  StartSource();
  WaitForMtlsStream();

  const Log log = fake_->log();
  ASSERT_GE(log.hellos.size(), 2u);
  EXPECT_EQ(log.hellos[0].peer_id, "");
  EXPECT_EQ(log.hellos[0].hello.join_token(), kJoinToken);
  EXPECT_EQ(log.hellos[0].hello.instance_name(), "cart-7d9f8");
  EXPECT_EQ(log.hellos[0].hello.version(), "0.1.0-test");
  // The renewal stream is authenticated by the SVID alone.
  EXPECT_EQ(log.hellos[1].peer_id, kWorkloadId);
  EXPECT_EQ(log.hellos[1].hello.credential_case(), control::v1::Hello::CREDENTIAL_NOT_SET);
  ASSERT_EQ(log.csrs.size(), 1u);
  EXPECT_TRUE(log.csrs[0].bootstrap);
  EXPECT_EQ(log.csrs[0].spiffe_id, kWorkloadId);

  auto snapshot = store_->Current();
  EXPECT_EQ(snapshot->spiffe_id.ToString(), kWorkloadId);
  EXPECT_EQ(snapshot->source, "control-plane");
  EXPECT_EQ(snapshot->serial, log.issued_serials[0]);
  // The key in use is the one whose public half went out in the CSR.
  EXPECT_EQ(PublicKeyDer(snapshot->key.get()), log.csrs[0].public_key_der);

  const ControlPlaneSource::Status status = source_->status();
  EXPECT_EQ(status.svids_installed, 1u);
  EXPECT_EQ(status.reconnects, 1u);  // the bootstrap stream, then the mTLS one
  EXPECT_EQ(status.failed_attempts, 0u);
  // Own schedule: half the lifetime, +/- 10 %.
  ASSERT_TRUE(status.next_renewal.has_value());
  const absl::Duration lifetime = snapshot->not_after - snapshot->not_before;
  EXPECT_GE(*status.next_renewal, snapshot->not_before + lifetime * 0.45);
  EXPECT_LE(*status.next_renewal, snapshot->not_before + lifetime * 0.55);
  EXPECT_EQ(Metric("palisade_identity_client_connected"), 1);
  EXPECT_EQ(Metric("palisade_identity_client_reconnects_total"), 1);
  EXPECT_GT(Metric("palisade_identity_client_last_renewal_timestamp_seconds"), 0);
}

TEST_F(ControlPlaneSourceTest, RetriesWithBackoffWhileItsTokenIsRefused) {
  WriteFile(dir_ + "/join_token", "stale-token");
  StartSource();
  ASSERT_TRUE(fake_->WaitFor([](const Log& log) { return log.hellos.size() >= 3; }));
  EXPECT_EQ(store_->Current(), nullptr);
  EXPECT_GE(source_->status().failed_attempts, 2u);
  EXPECT_THAT(source_->status().last_error, HasSubstr("no credential"));

  // The token file is read on every attempt: a fixed token is picked up.
  WriteFile(dir_ + "/join_token", kJoinToken);
  WaitForMtlsStream();
}

TEST_F(ControlPlaneSourceTest, RenewsWhenTheServersRenewAfterSays) {
  fake_->SetRenewAfter(absl::Milliseconds(300));
  StartSource();
  WaitForMtlsStream();
  const Log first = fake_->log();
  ASSERT_EQ(first.renew_after.size(), 1u);
  ASSERT_TRUE(source_->status().next_renewal.has_value());
  EXPECT_EQ(absl::ToUnixNanos(*source_->status().next_renewal),
            absl::ToUnixNanos(first.renew_after[0]));

  fake_->SetRenewAfter(std::nullopt);
  ASSERT_TRUE(fake_->WaitFor([](const Log& log) { return log.csrs.size() >= 2; }));
  const Log renewed = fake_->log();
  EXPECT_FALSE(renewed.csrs[1].bootstrap);  // over the mTLS stream
  EXPECT_EQ(renewed.csrs[1].stream_id, kWorkloadId);
  EXPECT_GE(renewed.csrs[1].received_at, first.renew_after[0]);
  EXPECT_NE(renewed.csrs[1].public_key_der, renewed.csrs[0].public_key_der);
  ASSERT_TRUE(
      WaitFor([&] { return Serial() == fake_->log().issued_serials[1]; }, absl::Seconds(20)));
}

TEST_F(ControlPlaneSourceTest, InstallsAPushedBundleThenAcknowledgesAndReports) {
  StartSource();
  WaitForMtlsStream();
  fake_->PushBundle(BundleOf(7, {&pki_, &next_pki_}));
  ASSERT_TRUE(fake_->WaitFor([](const Log& log) {
    return !log.acks.empty() && log.acks.back() == 7 && log.order.back() == "report";
  }));
  EXPECT_EQ(store_->Current()->bundles.root_count(), 2u);
  const Log log = fake_->log();
  ASSERT_FALSE(log.reports.empty());
  ASSERT_EQ(log.reports.back().roots_size(), 1);
  EXPECT_EQ(log.reports.back().roots(0).fingerprint_sha256(), "ab12");
  EXPECT_EQ(log.reports.back().roots(0).live_connections(), 2u);
}

TEST_F(ControlPlaneSourceTest, WarnsAndCountsAFederatedTrustDomainTheStreamHasNoBundleFor) {
  ControlPlaneSource::Options options = Options();
  options.config.add_federated_trust_domains("partner.example");
  StartSource(std::move(options));
  WaitForMtlsStream();
  ASSERT_TRUE(WaitFor([&] { return Metric("palisade_trust_bundle_missing_domains") == 1; },
                      absl::Seconds(10)))
      << Metric("palisade_trust_bundle_missing_domains");
  EXPECT_TRUE(WaitFor(
      [&] {
        for (const std::string& line : sink_->lines()) {
          if (absl::StrContains(line, "no trust bundle for a federated trust domain") &&
              absl::StrContains(line, "partner.example")) {
            return true;
          }
        }
        return false;
      },
      absl::Seconds(5)));
  // The partner's bundle arrives: nothing is missing any more.
  TestPki partner({.trust_domain = "partner.example"});
  control::v1::TrustBundleUpdate bundle = BundleOf(2, {&pki_});
  control::v1::TrustDomainBundle* domain = bundle.add_trust_domains();
  domain->set_trust_domain("partner.example");
  domain->add_root_certificates_der(identity::CertificateToDer(partner.root().x509()));
  fake_->PushBundle(bundle);
  EXPECT_TRUE(WaitFor([&] { return Metric("palisade_trust_bundle_missing_domains") == 0; },
                      absl::Seconds(10)))
      << Metric("palisade_trust_bundle_missing_domains");
}

TEST_F(ControlPlaneSourceTest, AnswersARekeyRequestWithACsrForAFreshKey) {
  StartSource();
  WaitForMtlsStream();
  fake_->PushRekey("root_rollover");
  ASSERT_TRUE(fake_->WaitFor([](const Log& log) { return log.issued_serials.size() >= 2; }));
  ASSERT_TRUE(
      WaitFor([&] { return Serial() == fake_->log().issued_serials[1]; }, absl::Seconds(20)));
  const Log log = fake_->log();
  EXPECT_FALSE(log.csrs[1].bootstrap);
  EXPECT_NE(log.csrs[1].public_key_der, log.csrs[0].public_key_der);
  EXPECT_EQ(PublicKeyDer(store_->Current()->key.get()), log.csrs[1].public_key_der);
}

TEST_F(ControlPlaneSourceTest, KeepsServingAndReconnectsWithBackoffWhileTheServerIsGone) {
  StartSource();
  WaitForMtlsStream();
  const std::string serial = Serial();
  front_->SetRefusing(true);
  ASSERT_TRUE(WaitFor([&] { return source_->status().failed_attempts >= 3; }, absl::Seconds(20)));
  EXPECT_FALSE(source_->status().connected);
  EXPECT_EQ(Metric("palisade_identity_client_connected"), 0);
  EXPECT_EQ(Serial(), serial);  // still serving with the same SVID

  const uint64_t hellos = fake_->log().hellos.size();
  front_->SetRefusing(false);
  ASSERT_TRUE(fake_->WaitFor([&](const Log& log) {
    return log.hellos.size() > hellos && log.hellos.back().peer_id == kWorkloadId;
  }));
  ASSERT_TRUE(WaitFor([&] { return source_->status().connected; }, absl::Seconds(20)));
  EXPECT_EQ(Serial(), serial);
  EXPECT_GE(Metric("palisade_identity_client_reconnects_total"), 2);
}

TEST_F(ControlPlaneSourceTest, KeepsTheRunningSvidWhenTheStoreRefusesAnIssuedOne) {
  StartSource();
  WaitForMtlsStream();
  const std::string serial = Serial();
  TestPki stranger(PkiOptions());  // a CA the bundle does not hold
  fake_->SetIssuer(IssuerOf(stranger));
  fake_->PushRekey("test");
  ASSERT_TRUE(WaitFor([&] { return source_->status().updates_rejected >= 1; }, absl::Seconds(20)));
  EXPECT_EQ(Serial(), serial);
  EXPECT_THAT(source_->status().last_error, HasSubstr("untrusted_chain"));
  // It retries on its own, with a fresh key each time.
  ASSERT_TRUE(fake_->WaitFor([](const Log& log) { return log.csrs.size() >= 3; }));
  fake_->SetIssuer(IssuerOf(pki_));
  ASSERT_TRUE(WaitFor([&] { return Serial() != serial; }, absl::Seconds(20)));
  EXPECT_EQ(Serial(), fake_->log().issued_serials.back());
  EXPECT_GE(Metric("palisade_identity_updates_rejected_total{source=\"control-plane\"}"), 1);
}

// palisade-control's issuance limit refuses a CSR for now: the proxy keeps
// its SVID, reconnects with backoff and asks again, even when what it asked
// for was a re-key the new stream will not repeat.
TEST_F(ControlPlaneSourceTest, RetriesACsrTheIssuanceLimitRefusedForNow) {
  StartSource();
  WaitForMtlsStream();
  const std::string serial = Serial();
  fake_->RefuseCsrs(2, grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                    "spiffe://cluster.local/ns/shop/sa/cart reached its issuance "
                                    "rate limit; retry in 1s"));
  fake_->PushRekey("root_rollover");
  ASSERT_TRUE(WaitFor([&] { return source_->status().failed_attempts >= 1; }, absl::Seconds(20)));
  EXPECT_EQ(Serial(), serial);  // still serving with the same SVID
  EXPECT_THAT(source_->status().last_error, HasSubstr("retry in 1s"));
  ASSERT_TRUE(fake_->WaitFor([](const Log& log) { return log.csrs.size() >= 4; }));
  ASSERT_TRUE(WaitFor([&] { return Serial() != serial; }, absl::Seconds(20)));
  EXPECT_EQ(Serial(), fake_->log().issued_serials.back());
  EXPECT_TRUE(source_->status().connected);
}

TEST_F(ControlPlaneSourceTest, ReportsConnectionsEveryInterval) {
  ControlPlaneSource::Options options = Options();
  options.report_interval = absl::Milliseconds(50);
  StartSource(std::move(options));
  WaitForMtlsStream();
  ASSERT_TRUE(fake_->WaitFor([](const Log& log) { return log.reports.size() >= 4; }));
}

TEST_F(ControlPlaneSourceTest, VerifiesTheControlPlaneWithTheBundleItWasSent) {
  StartSource();
  WaitForMtlsStream();
  fake_->PushBundle(BundleOf(2, {&pki_, &next_pki_}));
  ASSERT_TRUE(
      fake_->WaitFor([](const Log& log) { return !log.acks.empty() && log.acks.back() == 2; }));

  // The control plane comes back with an SVID under the new root, which the
  // bootstrap bundle file does not hold.
  const size_t hellos = fake_->log().hellos.size();
  const uint16_t port = front_->port();
  fake_->set_front(nullptr);
  front_.reset();
  StartFront(next_pki_, port);
  ASSERT_TRUE(fake_->WaitFor([&](const Log& log) {
    return log.hellos.size() > hellos && log.hellos.back().peer_id == kWorkloadId;
  })) << source_->status().last_error;
}

TEST_F(ControlPlaneSourceTest, FallsBackToItsBootstrapCredentialWhenTheServerRefusesItsSvid) {
  StartSource();
  WaitForMtlsStream();
  const std::string serial = Serial();
  // The control plane comes back no longer trusting the CA of our SVID (it
  // lost its state, say): the SVID is refused, the join token still works.
  const size_t hellos = fake_->log().hellos.size();
  const uint16_t port = front_->port();
  fake_->set_front(nullptr);
  front_.reset();
  StartFront(pki_, port, /*clients_pki=*/&next_pki_);
  ASSERT_TRUE(fake_->WaitFor([&](const Log& log) {
    return log.hellos.size() > hellos && log.hellos.back().hello.join_token() == kJoinToken;
  })) << source_->status().last_error;
  ASSERT_TRUE(WaitFor([&] { return Serial() != serial; }, absl::Seconds(20)));
  EXPECT_TRUE(fake_->log().csrs.back().bootstrap);
}

TEST_F(ControlPlaneSourceTest, RefusesAControlPlaneItsBundleDoesNotTrust) {
  fake_->set_front(nullptr);
  front_.reset();
  StartFront(next_pki_);  // the bootstrap bundle holds only pki_'s root
  StartSource();
  ASSERT_TRUE(WaitFor([&] { return source_->status().failed_attempts >= 2; }, absl::Seconds(20)));
  EXPECT_THAT(source_->status().last_error, HasSubstr("untrusted_chain"));
  EXPECT_TRUE(fake_->log().hellos.empty());
  EXPECT_EQ(store_->Current(), nullptr);
}

TEST_F(ControlPlaneSourceTest, SaysLoudlyWhenItsSvidExpiredWithoutRenewal) {
  ControlPlaneSource::Options options = Options();
  options.expired_log_interval = absl::Minutes(10);
  StartSource(std::move(options));
  WaitForMtlsStream();
  front_->SetRefusing(true);
  AdvanceClock(absl::Hours(2));  // past the SVID's notAfter
  ASSERT_TRUE(WaitFor([&] { return source_->status().expired_warnings == 1; }, absl::Seconds(20)));
  // Not again until the interval has passed, however often it looks.
  const uint64_t attempts = source_->status().failed_attempts;
  ASSERT_TRUE(WaitFor([&] { return source_->status().failed_attempts >= attempts + 3; },
                      absl::Seconds(20)));
  EXPECT_EQ(source_->status().expired_warnings, 1u);
  AdvanceClock(absl::Minutes(11));
  ASSERT_TRUE(WaitFor([&] { return source_->status().expired_warnings == 2; }, absl::Seconds(20)));

  int errors = 0;
  for (const std::string& line : sink_->lines()) {
    if (absl::StrContains(line, "has expired") && absl::StrContains(line, "error")) ++errors;
  }
  EXPECT_EQ(errors, 2);
  EXPECT_NE(store_->Current(), nullptr);  // the data plane fails closed on it
}

TEST_F(ControlPlaneSourceTest, ObtainsItsFirstSvidWithAServiceAccountTokenReadOnEveryUse) {
  const auto jwt = [](const std::string& nonce) {
    return absl::WebSafeBase64Escape(R"({"alg":"RS256"})") + "." +
           absl::WebSafeBase64Escape(R"({"sub":"system:serviceaccount:shop:cart","jti":")" + nonce +
                                     R"("})") +
           ".c2ln";
  };
  WriteFile(dir_ + "/sa_token", jwt("old"));
  fake_->AcceptServiceAccountToken(jwt("new"), kWorkloadId);
  ControlPlaneSource::Options options = Options();
  options.config.set_service_account_token_file(dir_ + "/sa_token");
  options.spiffe_id.clear();  // derived from the token's subject
  StartSource(std::move(options));
  ASSERT_TRUE(fake_->WaitFor([](const Log& log) { return log.hellos.size() >= 2; }));
  EXPECT_EQ(store_->Current(), nullptr);

  WriteFile(dir_ + "/sa_token", jwt("new"));  // the kubelet rotated it
  WaitForMtlsStream();
  EXPECT_EQ(store_->Current()->spiffe_id.ToString(), kWorkloadId);
  const Log log = fake_->log();
  EXPECT_EQ(log.hellos[0].hello.service_account_token(), jwt("old"));
  EXPECT_EQ(log.csrs[0].spiffe_id, kWorkloadId);
}

TEST_F(ControlPlaneSourceTest, StopsPromptlyWhileAHandshakeHangs) {
  auto silent = net::BindListener(*net::SocketAddress::Parse("127.0.0.1:0"), false);
  ASSERT_THAT(silent, IsOk());
  ControlPlaneSource::Options options = Options();
  options.config.set_address(net::LocalAddressOf(silent->get())->ToString());
  options.handshake_timeout = absl::Minutes(5);
  StartSource(std::move(options));
  const absl::Time start = absl::Now();
  source_->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_FALSE(source_->status().connected);
}

TEST_F(ControlPlaneSourceTest, RefusesToStartWithoutAnIdentityToAskFor) {
  ControlPlaneSource::Options options = Options();
  options.spiffe_id.clear();  // a join token says nothing about it
  EXPECT_THAT(ControlPlaneSource::Start(std::move(options)),
              ::palisade::testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("identity.spiffe_id")));
  options = Options();
  options.config.set_bootstrap_bundle_file(dir_ + "/absent.pem");
  EXPECT_THAT(ControlPlaneSource::Start(std::move(options)),
              ::palisade::testing::StatusIs(absl::StatusCode::kNotFound,
                                            HasSubstr("bootstrap_bundle_file")));
}

}  // namespace
}  // namespace palisade::identity_client::source_testing
