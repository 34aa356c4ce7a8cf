#include "runtime/event/event_loop.h"

#include <event2/thread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace palisade::event {
namespace {

void EnableLibeventThreads() {
  static std::once_flag once;
  std::call_once(once, [] { evthread_use_pthreads(); });
}

timeval DelayToTimeval(absl::Duration d) {
  if (d < absl::ZeroDuration()) d = absl::ZeroDuration();
  return absl::ToTimeval(d);
}

}  // namespace

absl::StatusOr<std::unique_ptr<EventLoop>> EventLoop::Create() {
  EnableLibeventThreads();
  event_config* config = event_config_new();
  if (config == nullptr) return absl::ResourceExhaustedError("event_config_new failed");
  // Each loop has exactly one thread; libevent's own locking is not needed.
  event_config_set_flag(config, EVENT_BASE_FLAG_NOLOCK);
  event_base* base = event_base_new_with_config(config);
  event_config_free(config);
  if (base == nullptr) return absl::ResourceExhaustedError("event_base_new failed");
  const int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    event_base_free(base);
    return absl::ResourceExhaustedError(absl::StrCat("eventfd: ", std::strerror(errno)));
  }
  return std::unique_ptr<EventLoop>(new EventLoop(base, wake_fd));
}

EventLoop::EventLoop(event_base* base, int wake_fd)
    : base_(base), wake_fd_(wake_fd), loop_thread_(std::this_thread::get_id()) {
  wake_event_ = event_new(base_, wake_fd_, EV_READ | EV_PERSIST, &EventLoop::OnWake, this);
  event_add(wake_event_, nullptr);
}

EventLoop::~EventLoop() {
  event_free(wake_event_);
  close(wake_fd_);
  event_base_free(base_);
}

void EventLoop::Run() {
  loop_thread_ = std::this_thread::get_id();
  {
    sync::MutexLock lock(&mutex_);
    if (stop_requested_) {
      stop_requested_ = false;
      return;
    }
  }
  event_base_loop(base_, EVLOOP_NO_EXIT_ON_EMPTY);
  RunPosted();  // tasks posted just before Stop()
}

void EventLoop::Stop() {
  {
    sync::MutexLock lock(&mutex_);
    stop_requested_ = true;
  }
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

void EventLoop::Post(std::function<void()> task) {
  bool was_empty;
  {
    sync::MutexLock lock(&mutex_);
    was_empty = posted_.empty();
    posted_.push_back(std::move(task));
  }
  if (was_empty) {
    const uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
  }
}

void EventLoop::OnWake(evutil_socket_t fd, short, void* arg) {
  uint64_t count;
  (void)!read(fd, &count, sizeof(count));
  auto* loop = static_cast<EventLoop*>(arg);
  loop->RunPosted();
  bool stop;
  {
    sync::MutexLock lock(&loop->mutex_);
    stop = loop->stop_requested_;
    loop->stop_requested_ = false;
  }
  if (stop) event_base_loopbreak(loop->base_);
}

void EventLoop::RunPosted() {
  std::deque<std::function<void()>> tasks;
  {
    sync::MutexLock lock(&mutex_);
    tasks.swap(posted_);
  }
  for (auto& task : tasks) task();
}

Timer::Timer(EventLoop* loop, std::function<void()> on_fire)
    : event_(evtimer_new(loop->base(), &Timer::OnFire, this)), on_fire_(std::move(on_fire)) {}

Timer::~Timer() { event_free(event_); }

void Timer::Arm(absl::Duration delay) {
  const timeval tv = DelayToTimeval(delay);
  evtimer_add(event_, &tv);
}

void Timer::Cancel() { evtimer_del(event_); }

bool Timer::armed() const { return evtimer_pending(event_, nullptr) != 0; }

void Timer::OnFire(evutil_socket_t, short, void* arg) {
  auto* timer = static_cast<Timer*>(arg);
  // The callback may destroy the timer; copy nothing out of it afterwards.
  timer->on_fire_();
}

FdWatcher::FdWatcher(EventLoop* loop, int fd, Callback callback)
    : callback_(std::move(callback)),
      event_(event_new(loop->base(), fd, EV_READ | EV_WRITE | EV_ET | EV_PERSIST,
                       &FdWatcher::OnEvent, this)) {
  event_add(event_, nullptr);
}

FdWatcher::~FdWatcher() { event_free(event_); }

void FdWatcher::OnEvent(evutil_socket_t, short events, void* arg) {
  auto* watcher = static_cast<FdWatcher*>(arg);
  watcher->callback_((events & EV_READ) != 0, (events & EV_WRITE) != 0);
}

}  // namespace palisade::event
