#include "runtime/event/event_loop.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "runtime/sync/mutex.h"

namespace palisade::event {
namespace {

TEST(EventLoopTest, RunsTasksPostedFromOtherThreadsInOrder) {
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok()) << loop.status();
  std::vector<int> seen;
  std::thread poster([&] {
    for (int i = 0; i < 100; ++i) (*loop)->Post([&seen, i] { seen.push_back(i); });
    (*loop)->Post([&] { (*loop)->Stop(); });
  });
  (*loop)->Run();
  poster.join();
  ASSERT_EQ(seen.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(seen[i], i);
}

TEST(EventLoopTest, StopBeforeRunMakesRunReturnAtOnce) {
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok());
  (*loop)->Stop();
  (*loop)->Run();  // must not block
  SUCCEED();
}

TEST(EventLoopTest, KnowsWhichThreadRunsIt) {
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok());
  std::atomic<bool> inside{false};
  std::thread runner([&] { (*loop)->Run(); });
  sync::Notification done;
  (*loop)->Post([&] {
    inside = (*loop)->IsLoopThread();
    done.Notify();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(inside.load());
  EXPECT_FALSE((*loop)->IsLoopThread());
  (*loop)->Stop();
  runner.join();
}

TEST(TimerTest, FiresOnceAfterItsDelayAndCanBeRearmed) {
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok());
  int fired = 0;
  const absl::Time start = absl::Now();
  Timer timer(loop->get(), [&] {
    if (++fired == 2) (*loop)->Stop();
  });
  timer.Arm(absl::Milliseconds(20));
  Timer rearm(loop->get(), [&] { timer.Arm(absl::Milliseconds(20)); });
  rearm.Arm(absl::Milliseconds(60));
  Timer guard(loop->get(), [&] { (*loop)->Stop(); });
  guard.Arm(absl::Seconds(10));
  (*loop)->Run();
  EXPECT_EQ(fired, 2);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(75));
}

TEST(TimerTest, CancelledTimerNeverFires) {
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok());
  bool fired = false;
  Timer timer(loop->get(), [&] { fired = true; });
  timer.Arm(absl::Milliseconds(10));
  EXPECT_TRUE(timer.armed());
  timer.Cancel();
  EXPECT_FALSE(timer.armed());
  Timer stop(loop->get(), [&] { (*loop)->Stop(); });
  stop.Arm(absl::Milliseconds(50));
  (*loop)->Run();
  EXPECT_FALSE(fired);
}

TEST(FdWatcherTest, ReportsReadableOnceDataArrives) {
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok());
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  bool saw_readable = false;
  FdWatcher watcher(loop->get(), fds[0], [&](bool readable, bool) {
    if (readable) {
      saw_readable = true;
      (*loop)->Stop();
    }
  });
  Timer writer(loop->get(), [&] { ASSERT_EQ(write(fds[1], "x", 1), 1); });
  writer.Arm(absl::Milliseconds(10));
  Timer guard(loop->get(), [&] { (*loop)->Stop(); });
  guard.Arm(absl::Seconds(10));
  (*loop)->Run();
  EXPECT_TRUE(saw_readable);
  close(fds[0]);
  close(fds[1]);
}

}  // namespace
}  // namespace palisade::event
