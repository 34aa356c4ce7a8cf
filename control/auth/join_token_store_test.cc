#include "control/auth/join_token_store.h"

#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "control/auth/refusal.h"
#include "control/state/state_files.h"
#include "gtest/gtest.h"
#include "tests/util/status_matchers.h"

namespace palisade::control::auth {
namespace {

using ::palisade::testing::StatusIs;
using ::testing::HasSubstr;

class JoinTokenStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = std::getenv("TEST_TMPDIR");
    static int counter = 0;
    path_ = absl::StrCat(base != nullptr ? base : "/tmp", "/tokens-", counter++, ".json");
    auto store = JoinTokenStore::Open(path_);
    ASSERT_OK(store.status());
    store_ = *std::move(store);
  }
  std::string ReasonOf(const absl::Status& s) { return RefusalReason(s); }

  static constexpr absl::Duration kTtl = absl::Hours(720);

  identity::SpiffeId id_ = *identity::SpiffeId::Parse("spiffe://example.org/host/db-1");
  absl::Time now_ = absl::Now();
  std::string path_;
  std::unique_ptr<JoinTokenStore> store_;
};

TEST_F(JoinTokenStoreTest, AuthenticatesAFreshTokenForItsSpiffeId) {
  ASSERT_OK_AND_ASSIGN(auto created, store_->Create(id_, absl::Hours(1), true, now_));
  EXPECT_TRUE(absl::StartsWith(created.token, "pjt." + created.info.id + "."));
  ASSERT_OK_AND_ASSIGN(JoinToken t, store_->Authenticate(created.token, now_));
  EXPECT_EQ(t.spiffe_id, id_.ToString());
}

TEST_F(JoinTokenStoreTest, RefusesATokenForABareTrustDomainId) {
  // Its SVID could never be issued (X509-SVID section 3), so the token would be a trap.
  const identity::SpiffeId domain = *identity::SpiffeId::Parse("spiffe://example.org");
  EXPECT_THAT(store_->Create(domain, absl::Hours(1), true, now_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("spiffe://example.org has no path (X509-SVID section 3")));
  EXPECT_TRUE(store_->List().empty());
}

TEST_F(JoinTokenStoreTest, StoresOnlyTheHashNeverTheToken) {
  ASSERT_OK_AND_ASSIGN(auto created, store_->Create(id_, absl::Hours(1), true, now_));
  const std::string file = *state::ReadStateFile(path_);
  EXPECT_EQ(file.find(created.token.substr(created.token.rfind('.') + 1)), std::string::npos);
  EXPECT_NE(file.find(created.info.sha256), std::string::npos);
}

TEST_F(JoinTokenStoreTest, SingleUseTokenIsRefusedAfterItsFirstSpend) {
  ASSERT_OK_AND_ASSIGN(auto created, store_->Create(id_, absl::Hours(1), true, now_));
  ASSERT_OK(store_->Spend(created.info.id, now_));
  EXPECT_EQ(ReasonOf(store_->Authenticate(created.token, now_).status()), "join_token_used");
  EXPECT_THAT(store_->Spend(created.info.id, now_),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("already used")));
}

TEST_F(JoinTokenStoreTest, MultiUseTokenCountsItsUses) {
  ASSERT_OK_AND_ASSIGN(auto created, store_->Create(id_, absl::ZeroDuration(), false, now_));
  ASSERT_OK(store_->Spend(created.info.id, now_));
  ASSERT_OK(store_->Spend(created.info.id, now_));
  ASSERT_OK_AND_ASSIGN(JoinToken t, store_->Authenticate(created.token, now_ + absl::Hours(1000)));
  EXPECT_EQ(t.uses, 2u);
}

TEST_F(JoinTokenStoreTest, ExpiredTokenIsRefused) {
  ASSERT_OK_AND_ASSIGN(auto created, store_->Create(id_, absl::Minutes(5), true, now_));
  EXPECT_EQ(ReasonOf(store_->Authenticate(created.token, now_ + absl::Minutes(5)).status()),
            "join_token_expired");
}

TEST_F(JoinTokenStoreTest, UnknownOrAlteredTokensAreRefused) {
  ASSERT_OK_AND_ASSIGN(auto created, store_->Create(id_, absl::Hours(1), true, now_));
  std::string altered = created.token;
  altered.back() = altered.back() == 'A' ? 'B' : 'A';
  for (const std::string& t : {altered, std::string("pjt.jt-00.x"), std::string(""),
                               std::string("garbage"), created.info.id}) {
    EXPECT_EQ(ReasonOf(store_->Authenticate(t, now_).status()), "join_token_unknown") << t;
  }
}

TEST_F(JoinTokenStoreTest, RevokedTokenIsRefusedByIdOrValue) {
  ASSERT_OK_AND_ASSIGN(auto a, store_->Create(id_, absl::Hours(1), true, now_));
  ASSERT_OK_AND_ASSIGN(auto b, store_->Create(id_, absl::Hours(1), true, now_));
  ASSERT_OK(store_->Revoke(a.info.id).status());
  ASSERT_OK(store_->Revoke(b.token).status());
  EXPECT_EQ(ReasonOf(store_->Authenticate(a.token, now_).status()), "join_token_revoked");
  EXPECT_EQ(ReasonOf(store_->Authenticate(b.token, now_).status()), "join_token_revoked");
  EXPECT_TRUE(store_->IsRevoked(a.info.id));
  EXPECT_THAT(store_->Revoke("jt-nope").status(), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(JoinTokenStoreTest, StateSurvivesReopening) {
  ASSERT_OK_AND_ASSIGN(auto used, store_->Create(id_, absl::Hours(1), true, now_));
  ASSERT_OK_AND_ASSIGN(auto fresh, store_->Create(id_, absl::Hours(1), true, now_));
  ASSERT_OK(store_->Spend(used.info.id, now_));
  ASSERT_OK_AND_ASSIGN(auto reopened, JoinTokenStore::Open(path_));
  EXPECT_EQ(ReasonOf(reopened->Authenticate(used.token, now_).status()), "join_token_used");
  EXPECT_OK(reopened->Authenticate(fresh.token, now_).status());
}

TEST_F(JoinTokenStoreTest, ReattestationTokenIsBoundToItsIdentityAndParentAndMultiUse) {
  ASSERT_OK_AND_ASSIGN(auto join, store_->Create(id_, absl::Hours(1), true, now_));
  ASSERT_OK_AND_ASSIGN(auto rt, store_->CreateReattestation(id_, join.info.id, kTtl, now_));
  EXPECT_TRUE(absl::StartsWith(rt.info.id, "rt-")) << rt.info.id;
  EXPECT_TRUE(absl::StartsWith(rt.token, "prt." + rt.info.id + ".")) << rt.token;
  EXPECT_EQ(rt.token.size() - rt.token.rfind('.') - 1, 43u);
  EXPECT_EQ(rt.info.kind, TokenKind::kReattestation);
  EXPECT_EQ(rt.info.parent_id, join.info.id);
  EXPECT_FALSE(rt.info.single_use);
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(JoinToken t, store_->AuthenticateReattestation(rt.token, now_));
    EXPECT_EQ(t.spiffe_id, id_.ToString());
    ASSERT_OK(store_->UseReattestation(rt.info.id, now_, kTtl));
  }
  EXPECT_EQ(store_->AuthenticateReattestation(rt.token, now_)->uses, 3u);
  const std::string file = *state::ReadStateFile(path_);
  EXPECT_EQ(file.find(rt.token.substr(rt.token.rfind('.') + 1)), std::string::npos);
}

TEST_F(JoinTokenStoreTest, TokensAreUnknownWhereTheOtherKindIsExpected) {
  ASSERT_OK_AND_ASSIGN(auto join, store_->Create(id_, absl::Hours(1), false, now_));
  ASSERT_OK_AND_ASSIGN(auto rt, store_->CreateReattestation(id_, join.info.id, kTtl, now_));
  EXPECT_EQ(ReasonOf(store_->Authenticate(rt.token, now_).status()), "join_token_unknown");
  EXPECT_EQ(ReasonOf(store_->AuthenticateReattestation(join.token, now_).status()),
            "reattestation_token_unknown");
  // The same id and secret under the other prefix.
  const std::string disguised = "pjt" + rt.token.substr(3);
  EXPECT_EQ(ReasonOf(store_->Authenticate(disguised, now_).status()), "join_token_unknown");
  EXPECT_EQ(ReasonOf(store_->Spend(rt.info.id, now_)), "join_token_unknown");
  EXPECT_EQ(ReasonOf(store_->UseReattestation(join.info.id, now_, kTtl)),
            "reattestation_token_unknown");
  std::string altered = rt.token;
  altered.back() = altered.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(ReasonOf(store_->AuthenticateReattestation(altered, now_).status()),
            "reattestation_token_unknown");
}

TEST_F(JoinTokenStoreTest, ReattestationTokenExpiresItsLifetimeAfterItsLastUse) {
  ASSERT_OK_AND_ASSIGN(auto rt, store_->CreateReattestation(id_, "jt-1", kTtl, now_));
  EXPECT_EQ(ReasonOf(store_->AuthenticateReattestation(rt.token, now_ + kTtl).status()),
            "reattestation_token_expired");
  const absl::Time later = now_ + kTtl - absl::Hours(1);
  ASSERT_OK(store_->UseReattestation(rt.info.id, later, kTtl));
  EXPECT_OK(store_->AuthenticateReattestation(rt.token, now_ + kTtl).status());
  EXPECT_EQ(ReasonOf(store_->AuthenticateReattestation(rt.token, later + kTtl).status()),
            "reattestation_token_expired");
  EXPECT_EQ(ReasonOf(store_->UseReattestation(rt.info.id, later + kTtl, kTtl)),
            "reattestation_token_expired");
}

TEST_F(JoinTokenStoreTest, SvidsIssuedToItsIdentitySlideTheExpiryWritingOnlyPastADay) {
  ASSERT_OK_AND_ASSIGN(auto rt, store_->CreateReattestation(id_, "jt-1", kTtl, now_));
  ASSERT_OK_AND_ASSIGN(auto other, store_->CreateReattestation(
                                       *identity::SpiffeId::Parse("spiffe://example.org/host/db-2"),
                                       "jt-2", kTtl, now_));
  const std::string written = *state::ReadStateFile(path_);
  // A renewal an hour later moves the expiry by an hour: not worth a write.
  ASSERT_OK(store_->SlideReattestation(id_.ToString(), now_ + absl::Hours(1), kTtl));
  EXPECT_EQ(*state::ReadStateFile(path_), written);
  // Past a day it is written, for this identity's tokens only.
  const absl::Time later = now_ + absl::Hours(25);
  ASSERT_OK(store_->SlideReattestation(id_.ToString(), later, kTtl));
  EXPECT_NE(*state::ReadStateFile(path_), written);
  ASSERT_OK_AND_ASSIGN(auto reopened, JoinTokenStore::Open(path_));
  EXPECT_OK(reopened->AuthenticateReattestation(rt.token, now_ + kTtl).status());
  EXPECT_EQ(absl::ToUnixSeconds(reopened->AuthenticateReattestation(rt.token, now_)->expires_at),
            absl::ToUnixSeconds(later + kTtl));  // whole seconds on disk
  EXPECT_EQ(ReasonOf(reopened->AuthenticateReattestation(other.token, now_ + kTtl).status()),
            "reattestation_token_expired");
  // An expired token is not brought back.
  ASSERT_OK(store_->SlideReattestation("spiffe://example.org/host/db-2", now_ + kTtl, kTtl));
  EXPECT_EQ(ReasonOf(store_->AuthenticateReattestation(other.token, now_ + kTtl).status()),
            "reattestation_token_expired");
}

TEST_F(JoinTokenStoreTest, RevokingAJoinTokenRevokesTheReattestationTokensFromIt) {
  ASSERT_OK_AND_ASSIGN(auto join, store_->Create(id_, absl::Hours(1), false, now_));
  ASSERT_OK_AND_ASSIGN(auto a, store_->CreateReattestation(id_, join.info.id, kTtl, now_));
  ASSERT_OK_AND_ASSIGN(auto b, store_->CreateReattestation(id_, join.info.id, kTtl, now_));
  ASSERT_OK_AND_ASSIGN(auto unrelated, store_->CreateReattestation(id_, "jt-other", kTtl, now_));
  EXPECT_EQ(store_->DescendantsOf(join.info.id).size(), 2u);
  ASSERT_OK(store_->Revoke(join.info.id).status());
  for (const auto* rt : {&a, &b}) {
    EXPECT_EQ(ReasonOf(store_->AuthenticateReattestation(rt->token, now_).status()),
              "reattestation_token_revoked");
    EXPECT_TRUE(store_->IsRevoked(rt->info.id));
  }
  EXPECT_OK(store_->AuthenticateReattestation(unrelated.token, now_).status());
  // One re-attestation token alone, by its value.
  ASSERT_OK_AND_ASSIGN(JoinToken revoked, store_->Revoke(unrelated.token));
  EXPECT_EQ(revoked.id, unrelated.info.id);
  EXPECT_EQ(ReasonOf(store_->UseReattestation(unrelated.info.id, now_, kTtl)),
            "reattestation_token_revoked");
  ASSERT_OK_AND_ASSIGN(auto reopened, JoinTokenStore::Open(path_));
  EXPECT_TRUE(reopened->IsRevoked(a.info.id));
  EXPECT_TRUE(reopened->IsRevoked(unrelated.info.id));
}

TEST_F(JoinTokenStoreTest, ReattestationTokensSurviveReopening) {
  ASSERT_OK_AND_ASSIGN(auto join, store_->Create(id_, absl::Hours(1), true, now_));
  ASSERT_OK_AND_ASSIGN(auto rt, store_->CreateReattestation(id_, join.info.id, kTtl, now_));
  ASSERT_OK(store_->UseReattestation(rt.info.id, now_, kTtl));
  ASSERT_OK_AND_ASSIGN(auto reopened, JoinTokenStore::Open(path_));
  ASSERT_OK_AND_ASSIGN(JoinToken t, reopened->AuthenticateReattestation(rt.token, now_));
  EXPECT_EQ(t.kind, TokenKind::kReattestation);
  EXPECT_EQ(t.parent_id, join.info.id);
  EXPECT_EQ(t.uses, 1u);
  EXPECT_EQ(reopened->DescendantsOf(join.info.id), std::vector<std::string>{rt.info.id});
  EXPECT_EQ(reopened->List().size(), 2u);
}

TEST_F(JoinTokenStoreTest, RefusesAFileWithATokenOfUnknownKind) {
  ASSERT_OK(state::WriteFileAtomically(
      path_, R"({"tokens": [{"kind": "x", "id": "a", "sha256": "b", "spiffe_id": "c"}]})", 0600));
  EXPECT_THAT(JoinTokenStore::Open(path_),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("unknown kind")));
}

TEST_F(JoinTokenStoreTest, RefusesACorruptFileNamingIt) {
  ASSERT_OK(state::WriteFileAtomically(path_, "{\"tokens\": [", 0600));
  EXPECT_THAT(JoinTokenStore::Open(path_),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(path_)));
}

TEST_F(JoinTokenStoreTest, PrunesTokensLongExpiredButKeepsAParentWithLiveDescendants) {
  ASSERT_OK_AND_ASSIGN(auto stale, store_->Create(id_, absl::Hours(1), true, now_));
  ASSERT_OK_AND_ASSIGN(auto parent, store_->Create(id_, absl::Hours(1), true, now_));
  ASSERT_OK_AND_ASSIGN(auto child,
                       store_->CreateReattestation(id_, parent.info.id, absl::Hours(48), now_));
  ASSERT_OK_AND_ASSIGN(auto forever, store_->Create(id_, absl::ZeroDuration(), true, now_));
  const absl::Time later = now_ + absl::Hours(30);
  // Within the retention nothing goes: an expired token is still refused as expired.
  ASSERT_OK_AND_ASSIGN(size_t pruned, store_->PruneExpired(later, absl::Hours(48)));
  EXPECT_EQ(pruned, 0u);
  ASSERT_OK_AND_ASSIGN(pruned, store_->PruneExpired(later, absl::Hours(24)));
  EXPECT_EQ(pruned, 1u);  // `stale`; `parent` stays for its live child
  EXPECT_EQ(ReasonOf(store_->Authenticate(stale.token, later).status()), "join_token_unknown");
  EXPECT_EQ(ReasonOf(store_->Authenticate(parent.token, later).status()), "join_token_expired");
  // The child expires too: both go, and the file forgets them across a restart.
  ASSERT_OK_AND_ASSIGN(pruned, store_->PruneExpired(now_ + absl::Hours(100), absl::Hours(24)));
  EXPECT_EQ(pruned, 2u);
  ASSERT_OK_AND_ASSIGN(auto reopened, JoinTokenStore::Open(path_));
  ASSERT_EQ(reopened->List().size(), 1u);
  EXPECT_EQ(reopened->List()[0].id, forever.info.id);
  EXPECT_EQ(ReasonOf(reopened->AuthenticateReattestation(child.token, now_).status()),
            "reattestation_token_unknown");
}

}  // namespace
}  // namespace palisade::control::auth
