// Process and RunCommand must fail the test when a child exits badly or
// writes a sanitizer report; otherwise leaks at exit and aborts in teardown
// go unseen. misbehaving_child does each bad thing on request.
#include "tests/util/process.h"

#include <gmock/gmock.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/util/subprocess.h"

namespace palisade::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kChild[] = "tests/util/misbehaving_child";

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PALISADE_ASAN 1
#endif
#endif

class ProcessTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTempDir("process"); }

  std::unique_ptr<Process> Start(std::vector<std::string> args, const std::string& log = "") {
    args.insert(args.begin(), kChild);
    auto p = Process::Start(args, dir_ + "/" + (log.empty() ? args[1] : log) + ".log");
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? *std::move(p) : nullptr;
  }

  // A `serve` child that is waiting for SIGTERM.
  std::unique_ptr<Process> Serving(const std::string& on_term) {
    std::unique_ptr<Process> p = Start({"serve", on_term}, "serve-" + on_term);
    EXPECT_TRUE(
        WaitFor([&] { return p->Output().find("ready") != std::string::npos; }, absl::Seconds(10)))
        << p->Output();
    return p;
  }

  std::string dir_;
};

TEST_F(ProcessTest, AChildThatExitsZeroOnSigtermPasses) {
  std::unique_ptr<Process> p = Serving("clean");
  EXPECT_EQ(p->Stop(), 0);
  EXPECT_TRUE(p->CheckExit().ok());
}

TEST_F(ProcessTest, ANonZeroExitFailsNamingTheStatusAndTheLog) {
  std::unique_ptr<Process> p = Start({"exit", "3"});
  ASSERT_EQ(p->Wait(absl::Seconds(10)), 3);
  const absl::Status s = p->CheckExit();
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("exited with status 3, expected 0"));
  EXPECT_THAT(s.message(), HasSubstr(p->log_path()));
}

TEST_F(ProcessTest, TheDestructorFailsTheTestOnABadExit) {
  std::unique_ptr<Process> p = Start({"exit", "3"});
  ASSERT_EQ(p->Wait(absl::Seconds(10)), 3);
  EXPECT_NONFATAL_FAILURE(p.reset(), "exited with status 3, expected 0");
}

TEST_F(ProcessTest, AnExitTheTestExpectsPasses) {
  std::unique_ptr<Process> p = Start({"exit", "3"});
  p->ExpectExit(3);
  ASSERT_EQ(p->Wait(absl::Seconds(10)), 3);
  EXPECT_TRUE(p->CheckExit().ok());
}

TEST_F(ProcessTest, ANonZeroExitOnSigtermFails) {
  std::unique_ptr<Process> p = Serving("exit3");
  EXPECT_EQ(p->Stop(), 3);
  EXPECT_THAT(p->CheckExit().message(), HasSubstr("exited with status 3"));
}

TEST_F(ProcessTest, AnAbortInTeardownFails) {
  std::unique_ptr<Process> p = Serving("abort");
  EXPECT_EQ(p->Stop(), 128 + SIGABRT);
  EXPECT_THAT(p->CheckExit().message(), HasSubstr("exited with status 134 (signal 6)"));
}

TEST_F(ProcessTest, AChildThatIgnoresSigtermIsKilledAndFails) {
  std::unique_ptr<Process> p = Serving("ignore");
  EXPECT_EQ(p->Stop(absl::Milliseconds(500)), 128 + SIGKILL);
  EXPECT_THAT(p->CheckExit().message(), HasSubstr("did not end after SIGTERM"));
}

TEST_F(ProcessTest, ADeliberateKillPasses) {
  std::unique_ptr<Process> p = Serving("ignore");
  EXPECT_EQ(p->Kill(), 128 + SIGKILL);
  EXPECT_TRUE(p->CheckExit().ok());
}

TEST_F(ProcessTest, ASanitizerReportFailsEvenAfterExitZero) {
  std::unique_ptr<Process> p = Start({"fake-report"});
  ASSERT_EQ(p->Wait(absl::Seconds(10)), 0);
  const absl::Status s = p->CheckExit();
  EXPECT_THAT(s.message(), HasSubstr("wrote a sanitizer report"));
  EXPECT_THAT(s.message(), HasSubstr("runtime error: signed integer overflow"));
  EXPECT_THAT(s.message(), HasSubstr(p->log_path()));
}

TEST_F(ProcessTest, OnlyWhatThisProcessWroteToASharedLogIsScanned) {
  ASSERT_TRUE(WriteFile(dir_ + "/shared.log", "a.cc:1:1: runtime error: from before\n"));
  std::unique_ptr<Process> p = Start({"exit", "0"}, "shared");
  ASSERT_EQ(p->Wait(absl::Seconds(10)), 0);
  EXPECT_TRUE(p->CheckExit().ok());
}

TEST_F(ProcessTest, ALeakAtExitFailsUnderAddressSanitizer) {
#ifndef PALISADE_ASAN
  GTEST_SKIP() << "LeakSanitizer runs only under --config=asan";
#endif
  std::unique_ptr<Process> p = Serving("leak");
  p->Stop();
  EXPECT_THAT(p->CheckExit().message(), HasSubstr("ERROR: LeakSanitizer: detected memory leaks"));
}

TEST_F(ProcessTest, AUseAfterFreeFailsUnderAddressSanitizer) {
#ifndef PALISADE_ASAN
  GTEST_SKIP() << "AddressSanitizer runs only under --config=asan";
#endif
  std::unique_ptr<Process> p = Start({"use-after-free"});
  ASSERT_TRUE(p->Wait(absl::Seconds(30)).has_value());
  EXPECT_THAT(p->CheckExit().message(), HasSubstr("ERROR: AddressSanitizer: heap-use-after-free"));
}

TEST(RunCommandTest, FailsTheTestOnASanitizerReport) {
  auto run = [] { RunCommand({kChild, "fake-report"}); };
  EXPECT_NONFATAL_FAILURE(run(), "runtime error: signed integer overflow");
}

TEST(RunCommandTest, FailsTheTestOnACrashWhateverTheCallerExpects) {
  auto run = [] { RunCommand({"/bin/sh", "-c", "kill -ABRT $$"}); };
  EXPECT_NONFATAL_FAILURE(run(), "crashed (signal 6)");
}

}  // namespace
}  // namespace palisade::testing
