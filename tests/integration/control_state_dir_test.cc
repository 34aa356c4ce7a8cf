// palisade-control trusts its state directory only when nobody but the service
// user can have written it, and keeps what it writes there private whatever
// the umask: real processes on real directories.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tests/util/control_process.h"
#include "tests/util/process.h"
#include "tests/util/subprocess.h"

namespace palisade::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Another user, as a root test runner can make one.
constexpr uid_t kOtherUid = 65534;

class ControlStateDirTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTempDir("control-state"); }

  std::string state() const { return dir_ + "/state"; }

  // A first run leaves a complete state directory (CA, tokens.json, audit.log).
  void MakeState() {
    auto control = ControlProcess::Start(dir_);
    ASSERT_TRUE(control.ok()) << control.status();
    ASSERT_TRUE((*control)->CreateJoinToken("spiffe://example.org/ns/a/sa/b").ok());
    (*control)->process().Stop();
  }

  // `serve` on the same state directory, as it would start after a restart.
  // One that refuses exits at once; one that serves is killed at the timeout.
  CommandResult Restart() {
    const std::string listen_file = dir_ + "/restart-listen.addr";
    CommandResult r = RunCommand(
        {kControlBinary, "serve", "--trust_domain=example.org", "--state_dir=" + state(),
         "--listen=127.0.0.1:0", "--admin=127.0.0.1:0", "--listen_address_file=" + listen_file},
        absl::Seconds(10));
    listened_ = !ReadFileOrEmpty(listen_file).empty();
    return r;
  }

  // Refused at start, and it never listened.
  void ExpectRefused(const CommandResult& r, const std::string& problem) {
    EXPECT_EQ(r.exit_code, 1) << r.output;  // a failure, not a usage error (2)
    EXPECT_THAT(r.output, HasSubstr(problem));
    EXPECT_FALSE(listened_) << "it opened its identity port before refusing";
  }

  std::string dir_;
  bool listened_ = false;
};

TEST_F(ControlStateDirTest, RefusesAGroupOrWorldWritableStateDirectory) {
  MakeState();
  for (mode_t mode : {0777, 0770}) {
    ASSERT_EQ(::chmod(state().c_str(), mode), 0);
    ExpectRefused(Restart(), absl::StrFormat("state directory %s: mode %04o is group- or "
                                             "world-writable",
                                             state(), mode));
  }
  ASSERT_EQ(::chmod(state().c_str(), 0700), 0);
  auto control = ControlProcess::Start(dir_);
  EXPECT_TRUE(control.ok()) << control.status();
}

TEST_F(ControlStateDirTest, RefusesATokensFilePlantedByAnotherUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "chown to another uid needs root";
  MakeState();
  const std::string tokens = state() + "/tokens.json";
  ASSERT_EQ(::chown(tokens.c_str(), kOtherUid, kOtherUid), 0);
  ExpectRefused(Restart(), absl::StrCat("state file ", tokens, ": owned by uid ", kOtherUid,
                                        ", not the service user (uid 0)"));
}

TEST_F(ControlStateDirTest, RefusesWritableStateFilesEachNamed) {
  MakeState();
  for (const std::string name :
       {"tokens.json", "audit.log", "ca/manifest.json", "ca/gen-1/intermediate.key"}) {
    const std::string path = state() + "/" + name;
    ASSERT_EQ(::chmod(path.c_str(), 0666), 0) << path;
    ExpectRefused(Restart(),
                  absl::StrCat("state file ", path, ": mode 0666 is group- or world-writable"));
    ASSERT_EQ(::chmod(path.c_str(), 0600), 0) << path;
  }
}

TEST_F(ControlStateDirTest, CreatesOnlyPrivateFilesUnderUmaskZero) {
  auto control = ControlProcess::Start(dir_, {}, SpawnOptions{.umask = 0});
  ASSERT_TRUE(control.ok()) << control.status();
  ASSERT_TRUE((*control)->CreateJoinToken("spiffe://example.org/ns/a/sa/b").ok());
  const CommandResult deregistered =
      (*control)->Cli({"deregister", "--spiffe_id=spiffe://example.org/ns/a/sa/b"});
  ASSERT_EQ(deregistered.exit_code, 0) << deregistered.output;
  (*control)->process().Stop();

  std::vector<std::string> seen;
  std::vector<std::string> not_private;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(state())) {
    struct stat st;
    ASSERT_EQ(::lstat(entry.path().c_str(), &st), 0);
    const mode_t want = S_ISDIR(st.st_mode) ? 0700 : 0600;
    seen.push_back(entry.path().lexically_relative(state()).string());
    if ((st.st_mode & 07777) != want) {
      not_private.push_back(absl::StrFormat("%s %04o", seen.back(), st.st_mode & 07777));
    }
  }
  EXPECT_THAT(seen, ::testing::IsSupersetOf({"audit.log", "tokens.json", "workloads.json",
                                             "bundle.pem", "ca", "ca/manifest.json",
                                             "ca/gen-1/root.key", "ca/gen-1/root.pem"}));
  EXPECT_THAT(not_private, IsEmpty());
  struct stat st;
  ASSERT_EQ(::stat(state().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
}

}  // namespace
}  // namespace palisade::testing
