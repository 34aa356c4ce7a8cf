// The identity service over a real in-process gRPC server (the fixture in
// identity_service_fixture.h): bootstraps, renewals, refusals, deadlines,
// pushes.
#include "control/service/identity_service.h"

#include <nlohmann/json.hpp>
#include <thread>

#include "absl/strings/str_split.h"
#include "control/service/identity_service_fixture.h"
#include "identity/svid_verifier.h"
#include "identity/trust_bundle.h"
#include "tests/util/process.h"

namespace palisade::control::service {
namespace {

using ::palisade::testing::TestJwtIssuer;

TEST_F(IdentityServiceTest, RefusesAConnectionThatDidNotComeThroughTheFrontEnd) {
  Client c = Connect(std::nullopt, /*register_peer=*/false);
  const grpc::Status status = Exchange(c, {Hello()});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(AuditText().find("unauthenticated_transport"), std::string::npos);
}

TEST_F(IdentityServiceTest, JoinTokenBootstrapGetsBundleThenOneSvidThenOk) {
  const std::string id = "spiffe://example.org/host/db-1";
  Client c = Connect(std::nullopt);
  std::vector<v1::WatchResponse> responses;
  const grpc::Status status = Exchange(c, {Hello(NewToken(id)), Csr(id)}, &responses);
  EXPECT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(responses.size(), 2u);
  ASSERT_TRUE(responses[0].has_bundle());
  EXPECT_EQ(responses[0].bundle().version(), 1u);
  ASSERT_TRUE(responses[1].has_svid());
  const v1::SvidUpdate& svid = responses[1].svid();
  EXPECT_EQ(svid.request_id(), 7u);
  ASSERT_EQ(svid.certificate_chain_der_size(), 2);

  // The chain verifies under the bundle it came with, for the token's identity.
  identity::TrustBundleSet::Builder builder;
  for (const auto& der : svid.bundle().trust_domains(0).root_certificates_der()) {
    ASSERT_OK(builder.Add(kTd, identity::ParseDerCertificate(der)->get()));
  }
  std::vector<absl::string_view> chain(svid.certificate_chain_der().begin(),
                                       svid.certificate_chain_der().end());
  identity::VerifyOptions verify;
  verify.now = Now();
  const auto verified = identity::VerifySvidChainDer(chain, builder.Build(), verify);
  ASSERT_TRUE(verified.ok()) << verified.detail;
  EXPECT_EQ(verified.svid->spiffe_id.ToString(), id);
  EXPECT_TRUE(identity::KeyMatchesCertificate(
      key_.get(), identity::ParseDerCertificate(svid.certificate_chain_der(0))->get()));

  // renew_after: half the lifetime from now, +/- 10 %.
  const absl::Time not_after = verified.svid->leaf_not_after;
  const absl::Time renew = absl::FromUnixSeconds(svid.renew_after().seconds());
  const absl::Duration half = (not_after - Now()) / 2;
  EXPECT_GE(renew, Now() + half * 0.9 - absl::Seconds(1));
  EXPECT_LE(renew, Now() + half * 1.1 + absl::Seconds(1));
  EXPECT_NE(AuditText().find("\"reason\":\"bootstrap_join_token\""), std::string::npos);
}

TEST_F(IdentityServiceTest, SingleUseJoinTokenIsRefusedTheSecondTime) {
  const std::string id = "spiffe://example.org/host/db-1";
  const std::string token = NewToken(id);
  Client first = Connect(std::nullopt);
  ASSERT_TRUE(Exchange(first, {Hello(token), Csr(id)}).ok());
  Client second = Connect(std::nullopt);
  const grpc::Status status = Exchange(second, {Hello(token), Csr(id)});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(status.error_message().find("already used"), std::string::npos);
  EXPECT_NE(AuditText().find("join_token_used"), std::string::npos);
}

TEST_F(IdentityServiceTest, ServiceAccountTokenBootstrapsItsNamespaceIdentity) {
  const std::string token =
      jwt_->Sign("ES256", TestJwtIssuer::Claims(kIssuer, kAudience, "shop", "cart", Now()));
  Client c = Connect(std::nullopt);
  std::vector<v1::WatchResponse> responses;
  const grpc::Status status =
      Exchange(c, {Hello("", token), Csr("spiffe://example.org/ns/shop/sa/cart")}, &responses);
  EXPECT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_TRUE(responses[1].has_svid());
}

TEST_F(IdentityServiceTest, BadServiceAccountTokenIsUnauthenticatedAndAudited) {
  TestJwtIssuer stranger;
  const std::string token =
      stranger.Sign("RS256", TestJwtIssuer::Claims(kIssuer, kAudience, "shop", "cart", Now()));
  Client c = Connect(std::nullopt);
  const grpc::Status status = Exchange(c, {Hello("", token)});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(AuditText().find("token_bad_signature"), std::string::npos);
}

TEST_F(IdentityServiceTest, HelloWithoutAnyCredentialIsUnauthenticated) {
  Client c = Connect(std::nullopt);
  EXPECT_EQ(Exchange(c, {Hello()}).error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(IdentityServiceTest, CsrForAnotherIdentityIsPermissionDenied) {
  const std::string id = "spiffe://example.org/host/db-1";
  const std::string token = NewToken(id);
  Client c = Connect(std::nullopt);
  const grpc::Status status = Exchange(c, {Hello(token), Csr("spiffe://example.org/host/admin")});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(AuditText().find("wrong_identity"), std::string::npos);
  // The refused CSR did not spend the token.
  Client again = Connect(std::nullopt);
  EXPECT_TRUE(Exchange(again, {Hello(token), Csr(id)}).ok());
}

TEST_F(IdentityServiceTest, MalformedCsrIsInvalidArgument) {
  const std::string id = "spiffe://example.org/host/db-1";
  Client c = Connect(std::nullopt);
  v1::WatchRequest bad;
  bad.mutable_csr()->set_csr_der("not a CSR");
  const grpc::Status status = Exchange(c, {Hello(NewToken(id)), bad});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(AuditText().find("malformed_csr"), std::string::npos);
}

TEST_F(IdentityServiceTest, RenewalOverMtlsKeepsTheStreamAndIssuesAgain) {
  const std::string id = "spiffe://example.org/host/db-1";
  Client boot = Connect(std::nullopt);
  std::vector<v1::WatchResponse> responses;
  ASSERT_TRUE(Exchange(boot, {Hello(NewToken(id)), Csr(id)}, &responses).ok());
  Client renew = Connect(PeerFor(responses[1].svid()));
  v1::WatchResponse response;
  ASSERT_TRUE(renew.stream->Write(Hello()));
  ASSERT_TRUE(renew.stream->Read(&response));
  EXPECT_TRUE(response.has_bundle());
  for (uint64_t i = 1; i <= 2; ++i) {
    ASSERT_TRUE(renew.stream->Write(Csr(id, i)));
    ASSERT_TRUE(renew.stream->Read(&response));
    ASSERT_TRUE(response.has_svid());
    EXPECT_EQ(response.svid().request_id(), i);
  }
  EXPECT_EQ(service_->stream_count(), 1u);
  EXPECT_NE(AuditText().find("\"reason\":\"renewal\""), std::string::npos);
  renew.stream->WritesDone();
  EXPECT_TRUE(renew.stream->Finish().ok());
}

// The default burst (16) less the bootstrap, then RESOURCE_EXHAUSTED; the
// refusals' audit lines are one per minute, then a closing count.
TEST_F(IdentityServiceTest, IssuanceBeyondTheBurstIsRefusedForNowAndAuditedSparingly) {
  const std::string id = "spiffe://example.org/host/db-1";
  Client boot = Connect(std::nullopt);
  std::vector<v1::WatchResponse> responses;
  ASSERT_TRUE(Exchange(boot, {Hello(NewToken(id)), Csr(id)}, &responses).ok());
  const PeerIdentity peer = PeerFor(responses[1].svid());
  Client renew = Connect(peer);
  v1::WatchResponse response;
  ASSERT_TRUE(renew.stream->Write(Hello()));
  ASSERT_TRUE(renew.stream->Read(&response));
  for (uint64_t i = 1; i <= 15; ++i) {
    ASSERT_TRUE(renew.stream->Write(Csr(id, i)));
    ASSERT_TRUE(renew.stream->Read(&response));
    ASSERT_TRUE(response.has_svid()) << i;
  }
  const grpc::Status refused = Exchange(renew, {Csr(id, 16)});
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  // 10m / 64 per TTL: one every 9.375 s.
  EXPECT_EQ(refused.error_message(),
            id + " reached its issuance rate limit (a burst of 16, then 64 per 10m); retry in 10s");
  for (int i = 0; i < 5; ++i) {
    Client again = Connect(peer);
    EXPECT_EQ(Exchange(again, {Hello(), Csr(id)}).error_code(),
              grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  auto lines = [&] {
    std::vector<nlohmann::json> out;
    for (absl::string_view line : absl::StrSplit(AuditText(), '\n', absl::SkipEmpty())) {
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (j.value("reason", "") == "issuance_rate_limited") out.push_back(j);
    }
    return out;
  };
  ASSERT_EQ(lines().size(), 1u);  // six refusals, one line
  EXPECT_FALSE(lines()[0].contains("suppressed"));
  service_->SweepLimits();
  EXPECT_EQ(lines().size(), 1u);  // not a minute yet
  Advance(absl::Minutes(1));
  service_->SweepLimits();
  ASSERT_EQ(lines().size(), 2u);
  EXPECT_EQ(lines()[1]["spiffe_id"], id);
  EXPECT_EQ(lines()[1]["suppressed"], 5);
  EXPECT_EQ(lines()[1]["result"], "RESOURCE_EXHAUSTED");
  // A minute refilled the bucket by six: renewals work again.
  Client later = Connect(peer);
  responses.clear();
  ASSERT_TRUE(later.stream->Write(Hello()));
  ASSERT_TRUE(later.stream->Read(&response));
  ASSERT_TRUE(later.stream->Write(Csr(id, 99)));
  ASSERT_TRUE(later.stream->Read(&response));
  EXPECT_TRUE(response.has_svid());
  later.stream->WritesDone();
  EXPECT_TRUE(later.stream->Finish().ok());
}

TEST_F(IdentityServiceTest, DeregisteredWorkloadCannotRenewAndItsStreamsClose) {
  const std::string id = "spiffe://example.org/host/db-1";
  Client boot = Connect(std::nullopt);
  std::vector<v1::WatchResponse> responses;
  ASSERT_TRUE(Exchange(boot, {Hello(NewToken(id)), Csr(id)}, &responses).ok());
  const PeerIdentity peer = PeerFor(responses[1].svid());
  Client open = Connect(peer);
  v1::WatchResponse response;
  ASSERT_TRUE(open.stream->Write(Hello()));
  ASSERT_TRUE(open.stream->Read(&response));

  ASSERT_OK(registry_->Deregister(id, Now()).status());
  EXPECT_EQ(service_->CloseStreamsOf(id, "deregistered"), 1u);
  EXPECT_FALSE(open.stream->Read(&response));
  EXPECT_EQ(open.stream->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);

  Client renew = Connect(peer);
  const grpc::Status status = Exchange(renew, {Hello(), Csr(id)});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(status.error_message().find("de-registered"), std::string::npos);
}

TEST_F(IdentityServiceTest, RevokedJoinTokenStopsRenewalsDescendingFromIt) {
  const std::string id = "spiffe://example.org/host/db-1";
  auto created = tokens_->Create(*identity::SpiffeId::Parse(id), absl::Hours(1), true, Now());
  Client boot = Connect(std::nullopt);
  std::vector<v1::WatchResponse> responses;
  ASSERT_TRUE(Exchange(boot, {Hello(created->token), Csr(id)}, &responses).ok());
  ASSERT_OK(tokens_->Revoke(created->info.id).status());
  Client renew = Connect(PeerFor(responses[1].svid()));
  const grpc::Status status = Exchange(renew, {Hello(), Csr(id)});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(AuditText().find("token_revoked"), std::string::npos);
}

TEST_F(IdentityServiceTest, OversizedMessageIsResourceExhausted) {
  Client c = Connect(std::nullopt);
  v1::WatchRequest big = Hello();
  big.mutable_hello()->set_join_token(std::string(70 * 1024, 'a'));
  EXPECT_EQ(Exchange(c, {big}).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(AuditText().find("message_too_large"), std::string::npos);
}

TEST_F(IdentityServiceTest, EmptyOrUnknownMessageIsInvalidArgument) {
  Client c = Connect(std::nullopt);
  EXPECT_EQ(Exchange(c, {v1::WatchRequest()}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(IdentityServiceTest, MessageOfAnUnknownFieldOnlyIsInvalidArgument) {
  // Field 100 (length-delimited): what a newer proxy's new message kind looks like.
  v1::WatchRequest unknown;
  ASSERT_TRUE(unknown.ParseFromString(std::string("\xa2\x06\x01x", 4)));
  ASSERT_EQ(unknown.kind_case(), v1::WatchRequest::KIND_NOT_SET);
  Client c = Connect(std::nullopt);
  const grpc::Status status = Exchange(c, {unknown});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(AuditText().find("unknown_message"), std::string::npos);
}

TEST_F(IdentityServiceTest, UnknownFieldsInsideAKnownMessageAreIgnored) {
  const std::string id = "spiffe://example.org/host/db-1";
  v1::WatchRequest hello = Hello(NewToken(id));
  // An unknown field appended inside the Hello sub-message is forward-compatible.
  v1::Hello inner = hello.hello();
  std::string inner_wire = inner.SerializeAsString() + std::string("\xa2\x06\x01x", 4);
  v1::WatchRequest extended;
  ASSERT_TRUE(extended.mutable_hello()->ParseFromString(inner_wire));
  Client c = Connect(std::nullopt);
  EXPECT_TRUE(Exchange(c, {extended, Csr(id)}).ok());
}

TEST_F(IdentityServiceTest, CsrBeforeHelloIsRefused) {
  Client c = Connect(std::nullopt);
  EXPECT_EQ(Exchange(c, {Csr("spiffe://example.org/x")}).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(IdentityServiceTest, StreamWithoutHelloEndsAtTheDeadline) {
  Client c = Connect(std::nullopt);
  ASSERT_TRUE(
      palisade::testing::WaitFor([&] { return service_->stream_count() == 1; }, absl::Seconds(10)));
  service_->CheckDeadlines();
  EXPECT_EQ(service_->stream_count(), 1u);  // not yet
  Advance(absl::Seconds(11));
  service_->CheckDeadlines();
  v1::WatchResponse response;
  EXPECT_FALSE(c.stream->Read(&response));
  EXPECT_EQ(c.stream->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_NE(AuditText().find("hello_timeout"), std::string::npos);
}

TEST_F(IdentityServiceTest, BootstrapStreamWithoutCsrEndsAtTheDeadline) {
  const std::string id = "spiffe://example.org/host/db-1";
  Client c = Connect(std::nullopt);
  v1::WatchResponse response;
  ASSERT_TRUE(c.stream->Write(Hello(NewToken(id))));
  ASSERT_TRUE(c.stream->Read(&response));
  Advance(absl::Seconds(31));
  service_->CheckDeadlines();
  EXPECT_FALSE(c.stream->Read(&response));
  EXPECT_EQ(c.stream->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_NE(AuditText().find("csr_timeout"), std::string::npos);
}

TEST_F(IdentityServiceTest, RenewalStreamEndsWhenItsSvidExpiresUnrenewed) {
  const std::string id = "spiffe://example.org/host/db-1";
  Client boot = Connect(std::nullopt);
  std::vector<v1::WatchResponse> responses;
  ASSERT_TRUE(Exchange(boot, {Hello(NewToken(id)), Csr(id)}, &responses).ok());
  const PeerIdentity peer = PeerFor(responses[1].svid());
  Client c = Connect(peer);
  v1::WatchResponse response;
  ASSERT_TRUE(c.stream->Write(Hello()));
  ASSERT_TRUE(c.stream->Read(&response));
  service_->CheckDeadlines();
  Advance(peer.not_after - Now() + absl::Seconds(1));
  service_->CheckDeadlines();
  EXPECT_FALSE(c.stream->Read(&response));
  EXPECT_EQ(c.stream->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(AuditText().find("svid_expired"), std::string::npos);
}

TEST_F(IdentityServiceTest, PushesBundlesAndRekeysAndRecordsAcksAndReports) {
  const std::string id = "spiffe://example.org/host/db-1";
  Client boot = Connect(std::nullopt);
  std::vector<v1::WatchResponse> responses;
  ASSERT_TRUE(Exchange(boot, {Hello(NewToken(id)), Csr(id)}, &responses).ok());
  Client c = Connect(PeerFor(responses[1].svid()));
  v1::WatchResponse response;
  ASSERT_TRUE(c.stream->Write(Hello()));
  ASSERT_TRUE(c.stream->Read(&response));

  ASSERT_OK(ca_->AddNextRoot(Now()).status());
  service_->PushBundle();
  ASSERT_TRUE(c.stream->Read(&response));
  ASSERT_TRUE(response.has_bundle());
  EXPECT_EQ(response.bundle().version(), 2u);
  EXPECT_EQ(response.bundle().trust_domains(0).root_certificates_der_size(), 2);
  v1::WatchRequest ack;
  ack.mutable_bundle_ack()->set_version(2);
  v1::WatchRequest report;
  auto* usage = report.mutable_connection_report()->add_roots();
  usage->set_fingerprint_sha256("abc");
  usage->set_live_connections(3);
  ASSERT_TRUE(c.stream->Write(ack));
  ASSERT_TRUE(c.stream->Write(report));
  ASSERT_TRUE(palisade::testing::WaitFor(
      [&] {
        auto fleet = service_->Fleet();
        return fleet.size() == 1 && fleet[0].acked_bundle_version == 2 &&
               fleet[0].connections_by_root.count("abc") == 1;
      },
      absl::Seconds(10)));
  EXPECT_EQ(service_->Fleet()[0].name, id + " (pod-1)");

  service_->RequestRekey("root_rollover");
  ASSERT_TRUE(c.stream->Read(&response));
  ASSERT_TRUE(response.has_rekey());
  EXPECT_EQ(response.rekey().reason(), "root_rollover");
  c.stream->WritesDone();
  EXPECT_TRUE(c.stream->Finish().ok());
}

// A proxy that connects (say, failing over from a replica that died) after
// issuance moved to a new root still holds a leaf under the old one: it is
// asked to re-key at once, not at its next renewal, or a rollover's retiring
// phase could take its peers' trust in that leaf away first.
TEST_F(IdentityServiceTest, AStreamWithALeafUnderAnInactiveRootIsAskedToRekeyAtHello) {
  const std::string id = "spiffe://example.org/host/db-1";
  Client boot = Connect(std::nullopt);
  std::vector<v1::WatchResponse> responses;
  ASSERT_TRUE(Exchange(boot, {Hello(NewToken(id)), Csr(id)}, &responses).ok());
  const PeerIdentity under_old_root = PeerFor(responses[1].svid());
  ASSERT_OK(ca_->AddNextRoot(Now()).status());
  ASSERT_OK(ca_->ActivateNewest());

  Client c = Connect(under_old_root);
  v1::WatchResponse response;
  ASSERT_TRUE(c.stream->Write(Hello()));
  ASSERT_TRUE(c.stream->Read(&response));
  EXPECT_TRUE(response.has_bundle());
  ASSERT_TRUE(c.stream->Read(&response));
  ASSERT_TRUE(response.has_rekey()) << response.DebugString();
  EXPECT_EQ(response.rekey().reason(), "root_rollover");
  ASSERT_TRUE(c.stream->Write(Csr(id, 2)));
  ASSERT_TRUE(c.stream->Read(&response));
  ASSERT_TRUE(response.has_svid());

  // A leaf under the active root: no re-key, the next message is the SVID
  // asked for.
  Client current = Connect(PeerFor(response.svid()));
  ASSERT_TRUE(current.stream->Write(Hello()));
  ASSERT_TRUE(current.stream->Read(&response));
  EXPECT_TRUE(response.has_bundle());
  ASSERT_TRUE(current.stream->Write(Csr(id, 3)));
  ASSERT_TRUE(current.stream->Read(&response));
  EXPECT_TRUE(response.has_svid()) << response.DebugString();
  for (Client* client : {&c, &current}) {
    client->stream->WritesDone();
    EXPECT_TRUE(client->stream->Finish().ok());
  }
}

TEST_F(IdentityServiceTest, ManyConcurrentBootstrapsEachGetTheirSvid) {
  constexpr int kStreams = 24;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  std::vector<std::string> tokens;
  for (int i = 0; i < kStreams; ++i)
    tokens.push_back(NewToken("spiffe://example.org/w/" + std::to_string(i)));
  for (int i = 0; i < kStreams; ++i) {
    threads.emplace_back([&, i] {
      Client c = Connect(std::nullopt);
      v1::WatchRequest csr;
      auto key = identity::GenerateP256Key();
      csr.mutable_csr()->set_csr_der(*identity::CreateCsrDer(
          key->get(), *identity::SpiffeId::Parse("spiffe://example.org/w/" + std::to_string(i))));
      c.stream->Write(Hello(tokens[i]));
      c.stream->Write(csr);
      v1::WatchResponse r;
      int svids = 0;
      while (c.stream->Read(&r)) svids += r.has_svid() ? 1 : 0;
      if (c.stream->Finish().ok() && svids == 1) ok.fetch_add(1);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kStreams);
}

}  // namespace
}  // namespace palisade::control::service
