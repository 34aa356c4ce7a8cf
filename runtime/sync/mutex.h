// Mutex, lock guard and notification over std::mutex, with clang's
// thread-safety annotations. Why not absl::Mutex: Debian's Abseil is built
// without ThreadSanitizer, so TSan cannot see absl::Mutex's ordering and
// reports every guarded access as a race; std::mutex goes through pthread,
// which TSan intercepts.
#ifndef PALISADE_RUNTIME_SYNC_MUTEX_H_
#define PALISADE_RUNTIME_SYNC_MUTEX_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"

namespace palisade::sync {

class ABSL_LOCKABLE Mutex {
 public:
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mutex_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mutex_.unlock(); }

  // Waits, with the lock held, until `condition` is true or `timeout` passes;
  // returns the condition's last value. Wakes on NotifyAll().
  bool AwaitWithTimeout(const std::function<bool()>& condition, absl::Duration timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    std::unique_lock<std::mutex> lock(mutex_, std::adopt_lock);
    const bool result = changed_.wait_for(lock, absl::ToChronoNanoseconds(timeout), condition);
    lock.release();  // still held by the caller's MutexLock
    return result;
  }
  void Await(const std::function<bool()>& condition) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    std::unique_lock<std::mutex> lock(mutex_, std::adopt_lock);
    changed_.wait(lock, condition);
    lock.release();
  }
  // Wakes every waiter so it re-checks its condition.
  void NotifyAll() { changed_.notify_all(); }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mutex) ABSL_EXCLUSIVE_LOCK_FUNCTION(mutex) : mutex_(mutex) {
    mutex_->Lock();
  }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mutex_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mutex_;
};

// A one-shot event other threads can wait for.
class Notification {
 public:
  void Notify() {
    MutexLock lock(&mutex_);
    notified_ = true;
    mutex_.NotifyAll();
  }
  bool HasBeenNotified() {
    MutexLock lock(&mutex_);
    return notified_;
  }
  void WaitForNotification() {
    MutexLock lock(&mutex_);
    mutex_.Await([this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return notified_; });
  }
  bool WaitForNotificationWithTimeout(absl::Duration timeout) {
    MutexLock lock(&mutex_);
    return mutex_.AwaitWithTimeout([this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return notified_; },
                                   timeout);
  }

 private:
  Mutex mutex_;
  bool notified_ ABSL_GUARDED_BY(mutex_) = false;
};

}  // namespace palisade::sync

#endif  // PALISADE_RUNTIME_SYNC_MUTEX_H_
