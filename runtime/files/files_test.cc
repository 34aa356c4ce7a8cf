#include "runtime/files/files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <string>

#include "tests/util/status_matchers.h"

namespace palisade::files {
namespace {

using ::palisade::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

class ReadSmallFileTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) {
    return std::string(::testing::TempDir()) + "/files_test_" + name;
  }
  std::string Write(const std::string& name, const std::string& contents) {
    const std::string path = Path(name);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
    return path;
  }
};

TEST_F(ReadSmallFileTest, ReadsTheWholeFileIncludingBinaryBytes) {
  std::string contents(100 * 1024, 'x');
  contents[7] = '\0';
  const std::string path = Write("whole", contents);
  ASSERT_OK_AND_ASSIGN(std::string read, ReadSmallFile(path, ""));
  EXPECT_EQ(read, contents);
  ASSERT_OK_AND_ASSIGN(read, ReadSmallFile(Write("empty", ""), ""));
  EXPECT_EQ(read, "");
}

TEST_F(ReadSmallFileTest, NamesTheFileWhenItIsMissing) {
  EXPECT_THAT(
      ReadSmallFile(Path("missing"), "trust_bundles[0].file"),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("trust_bundles[0].file \"" + Path("missing") +
                                                      "\": cannot open: No such file")));
}

TEST_F(ReadSmallFileTest, RefusesADirectoryAndAFifoWithoutWaiting) {
  EXPECT_THAT(ReadSmallFile(::testing::TempDir(), ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is a directory")));
  const std::string fifo = Path("fifo");
  std::remove(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_THAT(ReadSmallFile(fifo, ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a regular file")));
}

TEST_F(ReadSmallFileTest, RefusesAFileLargerThanTheLimit) {
  const std::string path = Write("large", std::string(1001, 'a'));
  EXPECT_THAT(ReadSmallFile(path, "", 1000),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("larger than 1000 bytes")));
  EXPECT_OK(ReadSmallFile(path, "", 1001).status());
}

class WriteFileAtomicallyTest : public ReadSmallFileTest {};

TEST_F(WriteFileAtomicallyTest, ReplacesTheFileWithExactlyTheModeAskedFor) {
  const std::string path = Write("atomic", "old contents, longer than the new");
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  const mode_t umask_before = ::umask(0277);  // would narrow 0600 to 0400
  const absl::Status written = WriteFileAtomically(path, "new", 0600, "token_file");
  ::umask(umask_before);
  ASSERT_OK(written);
  ASSERT_OK_AND_ASSIGN(std::string read, ReadSmallFile(path, ""));
  EXPECT_EQ(read, "new");
  struct stat info;
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_NE(::access((path + ".tmp").c_str(), F_OK), 0);  // no temporary file left
}

TEST_F(WriteFileAtomicallyTest, FailureNamesTheFileAndLeavesNothingBehind) {
  const std::string dir = Path("no_such_dir");
  EXPECT_THAT(WriteFileAtomically(dir + "/token", "x", 0600, "token_file"),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("token_file"), HasSubstr(dir + "/token.tmp"),
                             HasSubstr("cannot create"))));
  // Over a directory: the rename fails and the temporary file is removed.
  const std::string target = Path("a_directory");
  ASSERT_TRUE(::mkdir(target.c_str(), 0700) == 0 || errno == EEXIST);
  EXPECT_THAT(WriteFileAtomically(target, "x", 0600, "token_file"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("cannot rename")));
  EXPECT_NE(::access((target + ".tmp").c_str(), F_OK), 0);
}

}  // namespace
}  // namespace palisade::files
