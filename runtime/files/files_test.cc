#include "runtime/files/files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "tests/util/status_matchers.h"

namespace palisade::files {
namespace {

using ::palisade::testing::StatusIs;
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

}  // namespace
}  // namespace palisade::files
