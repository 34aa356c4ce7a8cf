#include "control/state/state_files.h"

#include <sys/stat.h>

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

}  // namespace
}  // namespace palisade::control::state
