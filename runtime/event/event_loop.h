// One libevent event_base driven by one thread: the unit every worker, the
// admin server and the control-plane client run on.
#ifndef PALISADE_RUNTIME_EVENT_EVENT_LOOP_H_
#define PALISADE_RUNTIME_EVENT_EVENT_LOOP_H_

#include <event2/event.h>

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/sync/mutex.h"

namespace palisade::event {

// Run() drives the loop on the calling thread until Stop(). Post() and Stop()
// may be called from any thread; everything else only on the loop's thread.
class EventLoop {
 public:
  static absl::StatusOr<std::unique_ptr<EventLoop>> Create();
  ~EventLoop();

  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs until Stop(); tasks posted before Stop() still run.
  void Run();
  // Makes Run() return after the tasks already posted. Thread-safe.
  void Stop();
  // Queues `task` to run on the loop's thread. Thread-safe.
  void Post(std::function<void()> task);
  bool IsLoopThread() const { return std::this_thread::get_id() == loop_thread_; }

  event_base* base() const { return base_; }

 private:
  EventLoop(event_base* base, int wake_fd);
  static void OnWake(evutil_socket_t fd, short events, void* arg);
  void RunPosted();

  event_base* const base_;
  const int wake_fd_;  // eventfd: Post() writes, the loop reads
  ::event* wake_event_ = nullptr;
  std::atomic<std::thread::id> loop_thread_;

  sync::Mutex mutex_;
  std::deque<std::function<void()>> posted_ ABSL_GUARDED_BY(mutex_);
  bool stop_requested_ ABSL_GUARDED_BY(mutex_) = false;
};

// A one-shot timer on a loop; re-arming replaces the previous deadline.
// Loop thread only. Destroying it cancels it.
class Timer {
 public:
  Timer(EventLoop* loop, std::function<void()> on_fire);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  void Arm(absl::Duration delay);
  void Cancel();
  bool armed() const;

 private:
  static void OnFire(evutil_socket_t, short, void* arg);
  ::event* event_;
  std::function<void()> on_fire_;
};

// Edge-triggered readiness of one file descriptor: the callback fires when
// the fd becomes readable or writable. Owners keep "ready" flags and clear
// them on EAGAIN, so interest is registered once and never changed (no
// epoll_ctl on the data path). Loop thread only.
class FdWatcher {
 public:
  using Callback = std::function<void(bool readable, bool writable)>;
  FdWatcher(EventLoop* loop, int fd, Callback callback);
  ~FdWatcher();
  FdWatcher(const FdWatcher&) = delete;
  FdWatcher& operator=(const FdWatcher&) = delete;

 private:
  static void OnEvent(evutil_socket_t fd, short events, void* arg);
  Callback callback_;
  ::event* event_;
};

}  // namespace palisade::event

#endif  // PALISADE_RUNTIME_EVENT_EVENT_LOOP_H_
