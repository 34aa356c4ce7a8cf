#include "control/service/revocation_list.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "absl/time/clock.h"
#include "control/state/state_files.h"
#include "tests/util/process.h"
#include "tests/util/status_matchers.h"

namespace palisade::control::service {
namespace {

constexpr char kId[] = "spiffe://example.org/ns/a/sa/b";

class RevocationListTest : public ::testing::Test {
 protected:
  std::string dir_ = testing::MakeTempDir("revocations");
  std::string path_ = dir_ + "/revocations.json";
  absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);
};

TEST_F(RevocationListTest, KeepsEntriesAndVersionAcrossReopen) {
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<RevocationList> list, RevocationList::Open(path_));
    ASSERT_OK_AND_ASSIGN(bool changed,
                         list->Revoke(kId, now_ + absl::Minutes(5), "deregistered", now_));
    EXPECT_TRUE(changed);
  }
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<RevocationList> list, RevocationList::Open(path_));
  EXPECT_TRUE(list->Contains(kId));
  const state::RevocationState state = list->Snapshot();
  EXPECT_EQ(state.version, 1u);
  ASSERT_EQ(state.entries.size(), 1u);
  EXPECT_EQ(state.entries[0].expires_at, now_ + absl::Minutes(5));
  EXPECT_EQ(state.entries[0].revoked_at, now_);
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(RevocationListTest, AnEntryOnlyEverGrowsUntilItIsPrunedAfterItsExpiry) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<RevocationList> list, RevocationList::Open(""));
  ASSERT_OK(list->Revoke(kId, now_ + absl::Minutes(5), "deregistered", now_).status());
  // Revoking again with an earlier expiry changes nothing; a later one extends.
  ASSERT_OK_AND_ASSIGN(bool shorter, list->Revoke(kId, now_, "deregistered", now_));
  EXPECT_FALSE(shorter);
  ASSERT_OK_AND_ASSIGN(bool extended, list->ExtendIfListed(kId, now_ + absl::Minutes(6)));
  EXPECT_TRUE(extended);
  ASSERT_OK_AND_ASSIGN(bool other, list->ExtendIfListed("spiffe://example.org/x", now_));
  EXPECT_FALSE(other);
  // Pruned only once expiry + margin has passed.
  ASSERT_OK_AND_ASSIGN(size_t kept, list->Prune(now_ + absl::Minutes(6), absl::Seconds(30)));
  EXPECT_EQ(kept, 0u);
  ASSERT_OK_AND_ASSIGN(size_t pruned,
                       list->Prune(now_ + absl::Minutes(6) + absl::Seconds(31), absl::Seconds(30)));
  EXPECT_EQ(pruned, 1u);
  EXPECT_FALSE(list->Contains(kId));
  EXPECT_EQ(list->Snapshot().version, 3u);
}

TEST_F(RevocationListTest, RemoveUndoesARevocation) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<RevocationList> list, RevocationList::Open(path_));
  ASSERT_OK(list->Revoke(kId, now_ + absl::Minutes(5), "deregistered", now_).status());
  ASSERT_OK_AND_ASSIGN(bool removed, list->Remove(kId));
  EXPECT_TRUE(removed);
  ASSERT_OK_AND_ASSIGN(bool again, list->Remove(kId));
  EXPECT_FALSE(again);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<RevocationList> reopened, RevocationList::Open(path_));
  EXPECT_FALSE(reopened->Contains(kId));
}

TEST_F(RevocationListTest, RefusesACorruptFileNamingTheField) {
  ASSERT_TRUE(testing::WriteFile(path_, "{\"version\": 2, \"revocations\": [{\"spiffe_id\": \"" +
                                            std::string(kId) + "\", \"revoked_at\": \"soon\"}]}"));
  chmod(path_.c_str(), 0600);
  EXPECT_THAT(RevocationList::Open(path_).status(),
              testing::StatusIs(absl::StatusCode::kFailedPrecondition,
                                ::testing::HasSubstr("revocations[0].revoked_at")));
  ASSERT_TRUE(testing::WriteFile(path_, "{\"version\": 2, \"revoc"));
  EXPECT_THAT(RevocationList::Open(path_).status(),
              testing::StatusIs(absl::StatusCode::kFailedPrecondition,
                                ::testing::HasSubstr("revocations.json")));
}

}  // namespace
}  // namespace palisade::control::service
