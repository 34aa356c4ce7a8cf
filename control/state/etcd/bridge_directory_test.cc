#include "control/state/etcd/bridge_directory.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/util/process.h"
#include "tests/util/status_matchers.h"

namespace palisade::control::state::etcd {
namespace {

// A pid that was in use a moment ago and is no more.
pid_t DeadPid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  return child;
}

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

std::string MakeDir(const std::string& parent, const std::string& name) {
  const std::string path = parent + "/" + name;
  EXPECT_EQ(::mkdir(path.c_str(), 0700), 0) << path;
  std::ofstream(path + "/etcd.sock") << "x";
  return path;
}

TEST(BridgeDirectoryTest, OwnDirectoryIsNamedAfterThisProcessAndPrivate) {
  const std::string parent = testing::MakeTempDir("bridge-dir");
  ASSERT_OK_AND_ASSIGN(std::string dir, MakeBridgeDirectory(parent));
  EXPECT_EQ(dir.rfind(absl::StrCat(parent, "/palisade-etcd-", ::getpid(), "-"), 0), 0u) << dir;
  struct stat st;
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_TRUE(RemoveStaleBridgeDirectories(parent).empty()) << "our own is not stale";
  EXPECT_TRUE(Exists(dir));
}

TEST(BridgeDirectoryTest, RemovesOnlyDirectoriesWhoseProcessIsGone) {
  const std::string parent = testing::MakeTempDir("bridge-dir");
  const std::string dead = MakeDir(parent, absl::StrCat("palisade-etcd-", DeadPid(), "-AbC123"));
  // The test runner that started us: alive, and older than the directory.
  const std::string live = MakeDir(parent, absl::StrCat("palisade-etcd-", ::getppid(), "-AbC123"));
  // Before this naming (no pid): nothing proves whose it is.
  const std::string unnamed = MakeDir(parent, "palisade-etcd-AbC123");
  const std::string other = MakeDir(parent, absl::StrCat("other-", DeadPid(), "-AbC123"));
  // A symbolic link with a stale name is not followed.
  const std::string target = MakeDir(parent, "target");
  const std::string link = absl::StrCat(parent, "/palisade-etcd-", DeadPid(), "-LiNk00");
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);

  EXPECT_EQ(RemoveStaleBridgeDirectories(parent), std::vector<std::string>{dead});
  EXPECT_FALSE(Exists(dead));
  EXPECT_TRUE(Exists(live));
  EXPECT_TRUE(Exists(unnamed));
  EXPECT_TRUE(Exists(other));
  EXPECT_TRUE(Exists(target + "/etcd.sock"));
}

}  // namespace
}  // namespace palisade::control::state::etcd
