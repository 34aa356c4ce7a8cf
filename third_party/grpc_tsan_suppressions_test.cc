// grpc_tsan_suppressions.cc may only hide reports that come from Debian's
// uninstrumented libraries. TSan matches a "race:" pattern against every
// frame of both stacks (and of the allocation and thread-creation stacks), so
// a function-name pattern such as absl::* also matched Abseil's header-only
// code compiled into our binaries: a race on one of our absl::flat_hash_maps
// went unreported. tsan_race_child races in our own code; each race must
// still be reported. Runs only under --config=tsan.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PALISADE_TSAN 1
#endif
#endif

namespace {

struct ChildRun {
  int exit_code = -1;
  std::string output;
};

// The child's exit code and its stdout and stderr.
ChildRun RunChild(const std::string& mode) {
  ChildRun run;
  const std::string command = "third_party/tsan_race_child " + mode + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) run.output.append(buffer, n);
  const int status = pclose(pipe);
  if (status != -1 && WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  return run;
}

class TsanSuppressionsTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
#ifndef PALISADE_TSAN
    GTEST_SKIP() << "only meaningful under --config=tsan";
#endif
  }
};

TEST_P(TsanSuppressionsTest, ARaceInOurOwnCodeIsReported) {
  const ChildRun run = RunChild(GetParam());
  EXPECT_NE(run.output.find("WARNING: ThreadSanitizer: data race"), std::string::npos)
      << "tsan_race_child " << GetParam() << " raced unreported (exit " << run.exit_code << "):\n"
      << run.output;
  // .bazelrc's TSAN_OPTIONS halt on the first report: exit code 66.
  EXPECT_EQ(run.exit_code, 66) << run.output;
}

INSTANTIATE_TEST_SUITE_P(Races, TsanSuppressionsTest, ::testing::Values("int", "absl_map"));

}  // namespace
