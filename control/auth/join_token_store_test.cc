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

TEST_F(JoinTokenStoreTest, RefusesACorruptFileNamingIt) {
  ASSERT_OK(state::WriteFileAtomically(path_, "{\"tokens\": [", 0600));
  EXPECT_THAT(JoinTokenStore::Open(path_),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(path_)));
}

}  // namespace
}  // namespace palisade::control::auth
