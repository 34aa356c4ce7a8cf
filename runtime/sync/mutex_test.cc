#include "runtime/sync/mutex.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace palisade::sync {
namespace {

TEST(MutexTest, SerialisesIncrementsFromManyThreads) {
  Mutex mutex;
  int counter = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        MutexLock lock(&mutex);
        ++counter;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter, 40000);
}

TEST(NotificationTest, WakesAWaiterAndTimesOutWithoutOne) {
  Notification never;
  EXPECT_FALSE(never.WaitForNotificationWithTimeout(absl::Milliseconds(20)));
  Notification done;
  std::thread notifier([&] { done.Notify(); });
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(done.HasBeenNotified());
  notifier.join();
}

}  // namespace
}  // namespace palisade::sync
