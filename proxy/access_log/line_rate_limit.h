// How many access-log lines one kind of failure may write: a token bucket per
// key (listener, result and reason), a burst and then a steady rate, and the
// count of lines it held back since that key's last line. A peer can cause
// failures as fast as it can connect; the log must not grow as fast.
#ifndef PALISADE_PROXY_ACCESS_LOG_LINE_RATE_LIMIT_H_
#define PALISADE_PROXY_ACCESS_LOG_LINE_RATE_LIMIT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "runtime/sync/mutex.h"

namespace palisade::access_log {

// Thread-safe.
class LineRateLimit {
 public:
  struct Options {
    double burst = 20;       // lines at once, per key
    double per_second = 2;   // then this many, per key
    size_t max_keys = 1024;  // beyond this, new keys share one bucket
  };
  struct Decision {
    bool write = false;
    // When writing: lines of this key held back since its last line.
    uint64_t suppressed_before = 0;
  };

  explicit LineRateLimit(Options options) : options_(options) {}

  Decision Take(const std::string& key, absl::Time now);
  // Every key with lines held back since its last line (or the last call),
  // with their count; the counts start again from zero.
  std::vector<std::pair<std::string, uint64_t>> TakeSuppressed();

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time refilled;
    uint64_t suppressed = 0;
  };

  const Options options_;
  sync::Mutex mutex_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace palisade::access_log

#endif  // PALISADE_PROXY_ACCESS_LOG_LINE_RATE_LIMIT_H_
