#include "proxy/metrics/label_limiter.h"

namespace palisade::metrics {

std::string LabelLimiter::Label(const std::string& value, bool* folded) {
  *folded = false;
  sync::MutexLock lock(&mutex_);
  if (known_.contains(value)) return value;
  if (known_.size() < limit_) {
    known_.insert(value);
    return value;
  }
  *folded = true;
  return kOther;
}

size_t LabelLimiter::distinct() const {
  sync::MutexLock lock(&mutex_);
  return known_.size();
}

}  // namespace palisade::metrics
