// Bounds the number of distinct values a label may take (peer identities):
// the first `limit` values seen keep their name, later ones become "other".
#ifndef PALISADE_PROXY_METRICS_LABEL_LIMITER_H_
#define PALISADE_PROXY_METRICS_LABEL_LIMITER_H_

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "runtime/sync/mutex.h"

namespace palisade::metrics {

// Thread-safe.
class LabelLimiter {
 public:
  static constexpr const char* kOther = "other";
  explicit LabelLimiter(size_t limit) : limit_(limit) {}

  // The label to use for `value`; sets *folded when it became "other".
  std::string Label(const std::string& value, bool* folded);
  size_t distinct() const;

 private:
  const size_t limit_;
  mutable sync::Mutex mutex_;
  absl::flat_hash_set<std::string> known_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace palisade::metrics

#endif  // PALISADE_PROXY_METRICS_LABEL_LIMITER_H_
