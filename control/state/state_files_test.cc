#include "control/state/state_files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/util/status_matchers.h"

namespace palisade::control::state {
namespace {

using ::palisade::testing::StatusIs;
using ::testing::HasSubstr;

std::string TempDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(base != nullptr ? base : "/tmp", "/", name);
  EXPECT_OK(EnsureDirectory(dir, 0700));
  return dir;
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0);
  return st.st_mode & 0777;
}

TEST(StateFilesTest, WritesContentWithExactModeAndLeavesNoTemporaryFile) {
  const std::string dir = TempDir("write");
  const std::string path = JoinPath(dir, "key.pem");
  ASSERT_OK(WriteFileAtomically(path, "secret", 0600));
  EXPECT_EQ(*ReadStateFile(path), "secret");
  EXPECT_EQ(ModeOf(path), 0600u);
  EXPECT_FALSE(PathExists(path + ".tmp"));
}

TEST(StateFilesTest, ReplacesExistingContentWhole) {
  const std::string dir = TempDir("replace");
  const std::string path = JoinPath(dir, "a.json");
  ASSERT_OK(WriteFileAtomically(path, std::string(10000, 'x'), 0644));
  ASSERT_OK(WriteFileAtomically(path, "short", 0644));
  EXPECT_EQ(*ReadStateFile(path), "short");
  EXPECT_EQ(ModeOf(path), 0644u);
}

TEST(StateFilesTest, ReplacesAStaleTemporaryFileFromACrash) {
  const std::string dir = TempDir("stale");
  const std::string path = JoinPath(dir, "a.json");
  ASSERT_OK(WriteFileAtomically(path + ".tmp", "half", 0600));
  ASSERT_OK(WriteFileAtomically(path, "whole", 0600));
  EXPECT_EQ(*ReadStateFile(path), "whole");
}

TEST(StateFilesTest, MissingFileIsNotFoundNamingThePath) {
  const std::string path = JoinPath(TempDir("missing"), "nope.json");
  EXPECT_THAT(ReadStateFile(path), StatusIs(absl::StatusCode::kNotFound, HasSubstr(path)));
}

TEST(StateFilesTest, WriteIntoMissingDirectoryFailsNamingTheFile) {
  const std::string path = JoinPath(TempDir("nodir"), "sub/x.json");
  EXPECT_THAT(WriteFileAtomically(path, "x", 0600),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("x.json.tmp")));
}

TEST(StateFilesTest, EnsureDirectoryMakesParentsAndRefusesAFile) {
  const std::string dir = TempDir("dirs");
  ASSERT_OK(EnsureDirectory(JoinPath(dir, "a/b/c"), 0700));
  EXPECT_EQ(ModeOf(JoinPath(dir, "a/b/c")), 0700u);
  ASSERT_OK(WriteFileAtomically(JoinPath(dir, "file"), "x", 0600));
  EXPECT_THAT(EnsureDirectory(JoinPath(dir, "file"), 0700),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not a directory")));
}

// Another user, as a root test runner can make one.
constexpr uid_t kOtherUid = 65534;

TEST(StateFilesTest, RefusesToLoadAGroupOrWorldWritableFile) {
  const std::string path = JoinPath(TempDir("writable"), "tokens.json");
  ASSERT_OK(WriteFileAtomically(path, "{}", 0600));
  for (mode_t mode : {0620, 0602, 0666}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    EXPECT_THAT(
        ReadStateFile(path),
        StatusIs(absl::StatusCode::kPermissionDenied,
                 HasSubstr(absl::StrCat("state file ", path, ": mode 0", mode / 64, (mode / 8) % 8,
                                        mode % 8, " is group- or world-writable"))));
  }
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);  // readable by others is no threat to us
  EXPECT_OK(ReadStateFile(path));
}

TEST(StateFilesTest, RefusesToLoadAFileOwnedByAnotherUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "chown to another uid needs root";
  const std::string path = JoinPath(TempDir("planted"), "tokens.json");
  ASSERT_OK(WriteFileAtomically(path, "{}", 0600));
  ASSERT_EQ(::chown(path.c_str(), kOtherUid, kOtherUid), 0);
  EXPECT_THAT(ReadStateFile(path),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr(absl::StrCat("state file ", path, ": owned by uid ", kOtherUid,
                                              ", not the service user (uid 0)"))));
}

TEST(StateFilesTest, EnsureDirectoryRefusesAWritableOrForeignDirectory) {
  const std::string dir = JoinPath(TempDir("open"), "state");
  ASSERT_OK(EnsureDirectory(dir, 0700));
  ASSERT_EQ(::chmod(dir.c_str(), 0777), 0);
  EXPECT_THAT(EnsureDirectory(dir, 0700),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr(absl::StrCat("state directory ", dir,
                                              ": mode 0777 is group- or world-writable"))));
  ASSERT_EQ(::chmod(dir.c_str(), 0750), 0);
  EXPECT_OK(EnsureDirectory(dir, 0700));
  if (::geteuid() != 0) return;
  ASSERT_EQ(::chown(dir.c_str(), kOtherUid, kOtherUid), 0);
  EXPECT_THAT(
      EnsureDirectory(dir, 0700),
      StatusIs(absl::StatusCode::kPermissionDenied,
               HasSubstr(absl::StrCat("state directory ", dir, ": owned by uid ", kOtherUid))));
}

TEST(StateFilesTest, CreatesOnlyPrivateFilesAndDirectoriesUnderUmaskZero) {
  const mode_t old_umask = ::umask(0);
  const std::string dir = JoinPath(TempDir("umask"), "state/ca");
  EXPECT_OK(EnsureDirectory(dir, 0700));
  EXPECT_OK(WriteFileAtomically(JoinPath(dir, "root.key"), "k", 0600));
  ::umask(old_umask);
  EXPECT_EQ(ModeOf(dir), 0700u);
  EXPECT_EQ(ModeOf(JoinPath(dir, "..")), 0700u);
  EXPECT_EQ(ModeOf(JoinPath(dir, "root.key")), 0600u);
}

}  // namespace
}  // namespace palisade::control::state
