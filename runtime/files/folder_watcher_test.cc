#include "runtime/files/folder_watcher.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <cstdio>
#include <fstream>

#include "absl/time/clock.h"

namespace palisade::files {
namespace {

bool WaitUntil(const std::function<bool()>& condition) {
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

TEST(FolderWatcherTest, CallsBackOnceAfterAFileIsReplacedByRename) {
  char dir[] = "/tmp/folder_watcher_XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string file = std::string(dir) + "/ca.pem";
  std::atomic<int> calls{0};
  auto watcher = FolderWatcher::Start(
      {file}, [&] { ++calls; }, absl::Milliseconds(50));
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  std::ofstream(file + ".tmp") << "new";
  ASSERT_EQ(std::rename((file + ".tmp").c_str(), file.c_str()), 0);
  EXPECT_TRUE(WaitUntil([&] { return calls.load() >= 1; }));
  watcher->reset();  // stops and joins
  EXPECT_EQ(calls.load(), 1);
}

TEST(FolderWatcherTest, RefusesAFolderThatDoesNotExist) {
  auto watcher = FolderWatcher::Start({"/nonexistent-folder-palisade/ca.pem"}, [] {});
  EXPECT_EQ(watcher.status().code(), absl::StatusCode::kNotFound);
}

TEST(FolderWatcherTest, NamesTheFolderOfAPath) {
  EXPECT_EQ(FolderOf("/a/b.pem"), "/a");
  EXPECT_EQ(FolderOf("/b.pem"), "/");
  EXPECT_EQ(FolderOf("b.pem"), ".");
}

}  // namespace
}  // namespace palisade::files
