// A bound on how many log (and audit) lines one kind of event may write: per
// key (a refusal reason), `burst` lines per `interval`; beyond that events
// are only counted, and once the interval is over TakeSuppressed hands back
// each key's count for one summary line. A flood of refusals then costs a
// few lines per interval, not one per connection. Thread-safe.
#ifndef PALISADE_CONTROL_SERVICE_LOG_RATE_LIMITER_H_
#define PALISADE_CONTROL_SERVICE_LOG_RATE_LIMITER_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "runtime/sync/mutex.h"

namespace palisade::control::service {

class LogRateLimiter {
 public:
  struct Options {
    size_t burst = 10;
    absl::Duration interval = absl::Seconds(10);
    // Distinct keys tracked; beyond, events share the key "other".
    size_t max_keys = 64;
  };
  explicit LogRateLimiter(Options options) : options_(options) {}

  // Whether an event for `key` may be written now; if not it is counted.
  bool Admit(const std::string& key, absl::Time now);
  // The keys whose interval has ended with events left unwritten, and how
  // many; each is then reset.
  std::vector<std::pair<std::string, uint64_t>> TakeSuppressed(absl::Time now);

 private:
  struct Window {
    absl::Time start;
    size_t written = 0;
    uint64_t suppressed = 0;
  };
  const Options options_;
  sync::Mutex mu_;
  absl::flat_hash_map<std::string, Window> windows_ ABSL_GUARDED_BY(mu_);
};

}  // namespace palisade::control::service

#endif  // PALISADE_CONTROL_SERVICE_LOG_RATE_LIMITER_H_
