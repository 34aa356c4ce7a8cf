#include "tests/util/subprocess.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace palisade {
namespace testing {
namespace {

using ::testing::HasSubstr;

TEST(SubprocessTest, CapturesStdoutStderrAndExitCode) {
  CommandResult result = RunCommand({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_THAT(result.output, HasSubstr("out\n"));
  EXPECT_THAT(result.output, HasSubstr("err\n"));
  EXPECT_EQ(result.command, "/bin/sh -c echo out; echo err >&2; exit 3");
}

TEST(SubprocessTest, PassesArgumentsWithoutAShell) {
  CommandResult result = RunCommand({"/bin/echo", "a b", "$HOME", "'q'"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.output, "a b $HOME 'q'\n");
}

TEST(SubprocessTest, ReportsAMissingProgramAsExitCode127) {
  EXPECT_EQ(RunCommand({"/nonexistent/program"}).exit_code, 127);
  EXPECT_EQ(RunCommand({}).exit_code, -1);
}

}  // namespace
}  // namespace testing
}  // namespace palisade
