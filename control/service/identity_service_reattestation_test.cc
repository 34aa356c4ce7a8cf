// Re-attestation tokens on the identity stream: a join token's SVID comes
// with one; a stream authenticated by it gets exactly one SVID for the same
// identity and ends; unknown, expired, revoked and de-registered are refused
// and audited; renewals keep it alive; revoking it stops its descendants.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "control/service/identity_service.h"
#include "control/service/identity_service_fixture.h"
#include "identity/certificate.h"

namespace palisade::control::service {
namespace {

constexpr char kId[] = "spiffe://example.org/host/db-1";

class ReattestationTest : public IdentityServiceTest {
 protected:
  // Bootstraps kId with a fresh single-use join token; returns the SvidUpdate.
  v1::SvidUpdate Bootstrap() {
    Client c = Connect(std::nullopt);
    std::vector<v1::WatchResponse> responses;
    const grpc::Status status = Exchange(c, {Hello(NewToken(kId)), Csr(kId)}, &responses);
    EXPECT_TRUE(status.ok()) << status.error_message();
    if (responses.size() != 2 || !responses[1].has_svid()) {
      ADD_FAILURE() << "no SVID from the join token";
      return v1::SvidUpdate();
    }
    return responses[1].svid();
  }

  static std::string IdOf(const std::string& token) {
    return token.substr(4, token.find('.', 4) - 4);  // "prt.<id>.<secret>"
  }
  static std::string SerialOf(const v1::SvidUpdate& svid) {
    return identity::SerialHex(identity::ParseDerCertificate(svid.certificate_chain_der(0))->get());
  }
};

TEST_F(ReattestationTest, AJoinTokensSvidComesWithAReattestationTokenForTheSameIdentity) {
  const v1::SvidUpdate svid = Bootstrap();
  const std::string& token = svid.reattestation_token();
  ASSERT_EQ(token.rfind("prt.rt-", 0), 0u) << token;
  ASSERT_OK_AND_ASSIGN(auth::JoinToken record, tokens_->AuthenticateReattestation(token, Now()));
  EXPECT_EQ(record.spiffe_id, kId);
  EXPECT_EQ(record.kind, auth::TokenKind::kReattestation);
  EXPECT_TRUE(absl::StartsWith(record.parent_id, "jt-")) << record.parent_id;
  EXPECT_EQ(record.expires_at, Now() + absl::Hours(720));
  // The audit names it by id; the secret appears nowhere.
  EXPECT_NE(AuditText().find("re-attestation token " + record.id + " issued"), std::string::npos);
  EXPECT_EQ(AuditText().find(token.substr(token.rfind('.') + 1)), std::string::npos);
}

TEST_F(ReattestationTest, AReattestationStreamGetsOneSvidForItsIdentityThenEnds) {
  const std::string token = Bootstrap().reattestation_token();
  for (int attempt = 0; attempt < 2; ++attempt) {  // multi-use
    Client c = Connect(std::nullopt);
    std::vector<v1::WatchResponse> responses;
    const grpc::Status status = Exchange(c, {ReattestationHello(token), Csr(kId, 9)}, &responses);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(responses.size(), 2u);
    ASSERT_TRUE(responses[0].has_bundle());
    ASSERT_TRUE(responses[1].has_svid());
    const v1::SvidUpdate& svid = responses[1].svid();
    EXPECT_EQ(svid.request_id(), 9u);
    EXPECT_EQ(svid.reattestation_token(), "");  // it keeps the one it has
    EXPECT_EQ(registry_->LineageOf(SerialOf(svid)), "reattestation_token:" + IdOf(token));
    EXPECT_TRUE(identity::KeyMatchesCertificate(
        key_.get(), identity::ParseDerCertificate(svid.certificate_chain_der(0))->get()));
  }
  EXPECT_EQ(tokens_->AuthenticateReattestation(token, Now())->uses, 2u);
  const std::string audit = AuditText();
  EXPECT_NE(audit.find("\"reason\":\"bootstrap_reattestation_token\""), std::string::npos);
  EXPECT_NE(audit.find("\"peer\":\"reattestation_token\""), std::string::npos);
  EXPECT_NE(audit.find("reattestation_token:" + IdOf(token)), std::string::npos);
}

TEST_F(ReattestationTest, AReattestationStreamCannotAskForAnotherIdentity) {
  const std::string token = Bootstrap().reattestation_token();
  Client c = Connect(std::nullopt);
  const grpc::Status status =
      Exchange(c, {ReattestationHello(token), Csr("spiffe://example.org/host/admin")});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(AuditText().find("wrong_identity"), std::string::npos);
}

TEST_F(ReattestationTest, UnknownExpiredAndRevokedTokensAreUnauthenticatedAndAudited) {
  const std::string token = Bootstrap().reattestation_token();
  ASSERT_OK_AND_ASSIGN(
      auto short_lived,
      tokens_->CreateReattestation(*identity::SpiffeId::Parse(kId), "jt-x", absl::Hours(1), Now()));
  ASSERT_OK(tokens_->Revoke(IdOf(token)).status());
  Advance(absl::Hours(2));
  const std::string unknown = "prt.rt-0000000000000000.AAAA";
  for (const auto& [presented, reason] : std::vector<std::pair<std::string, std::string>>{
           {unknown, "reattestation_token_unknown"},
           {short_lived.token, "reattestation_token_expired"},
           {token, "reattestation_token_revoked"},
           {NewToken(kId), "reattestation_token_unknown"}}) {  // a join token is no such thing
    Client c = Connect(std::nullopt);
    const grpc::Status status = Exchange(c, {ReattestationHello(presented), Csr(kId)});
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << reason;
    EXPECT_NE(AuditText().find("\"reason\":\"" + reason + "\""), std::string::npos) << reason;
    EXPECT_EQ(status.error_message().find(presented.substr(presented.rfind('.') + 1)),
              std::string::npos);
  }
}

TEST_F(ReattestationTest, ADeregisteredIdentityCannotReattest) {
  const std::string token = Bootstrap().reattestation_token();
  ASSERT_OK(registry_->Deregister(kId, Now()).status());
  Client c = Connect(std::nullopt);
  const grpc::Status status = Exchange(c, {ReattestationHello(token), Csr(kId)});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(status.error_message().find("de-registered"), std::string::npos);
}

TEST_F(ReattestationTest, RenewalsOfTheIdentityKeepItsTokenAlive) {
  const v1::SvidUpdate svid = Bootstrap();
  Advance(absl::Hours(700));
  Client renew = Connect(PeerFor(svid));
  v1::WatchResponse response;
  ASSERT_TRUE(renew.stream->Write(Hello()));
  ASSERT_TRUE(renew.stream->Read(&response));
  ASSERT_TRUE(renew.stream->Write(Csr(kId)));
  ASSERT_TRUE(renew.stream->Read(&response));
  ASSERT_TRUE(response.has_svid());
  EXPECT_EQ(response.svid().reattestation_token(), "");  // renewals carry none
  renew.stream->WritesDone();
  EXPECT_TRUE(renew.stream->Finish().ok());
  Advance(absl::Hours(100));  // 800 h after it was issued, 100 h after the renewal
  EXPECT_OK(tokens_->AuthenticateReattestation(svid.reattestation_token(), Now()).status());
}

TEST_F(ReattestationTest, RevokingTheJoinTokenStopsEverythingDescendingFromIt) {
  const v1::SvidUpdate first = Bootstrap();
  const std::string token = first.reattestation_token();
  const std::string parent = tokens_->AuthenticateReattestation(token, Now())->parent_id;
  Client c = Connect(std::nullopt);
  std::vector<v1::WatchResponse> responses;
  ASSERT_TRUE(Exchange(c, {ReattestationHello(token), Csr(kId)}, &responses).ok());
  Client open = Connect(PeerFor(responses[1].svid()));
  v1::WatchResponse response;
  ASSERT_TRUE(open.stream->Write(Hello()));
  ASSERT_TRUE(open.stream->Read(&response));

  ASSERT_OK(tokens_->Revoke(parent).status());
  EXPECT_EQ(service_->CloseStreamsOfToken(IdOf(token), "token_revoked"), 1u);
  EXPECT_FALSE(open.stream->Read(&response));
  EXPECT_EQ(open.stream->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  // Its SVIDs renew no more, and the token itself is refused.
  Client renew = Connect(PeerFor(responses[1].svid()));
  grpc::Status status = Exchange(renew, {Hello(), Csr(kId)});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(status.error_message().find("re-attestation token " + IdOf(token)), std::string::npos)
      << status.error_message();
  Client again = Connect(std::nullopt);
  status = Exchange(again, {ReattestationHello(token), Csr(kId)});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

}  // namespace
}  // namespace palisade::control::service
