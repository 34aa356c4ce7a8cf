#include "proxy/access_log/line_rate_limit.h"

#include <algorithm>

namespace palisade::access_log {

LineRateLimit::Decision LineRateLimit::Take(const std::string& key, absl::Time now) {
  sync::MutexLock lock(&mutex_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    // Keys come from the config (listeners) and bounded reason codes; the
    // cap only guards against a reason that is not.
    const std::string& slot = buckets_.size() < options_.max_keys ? key : std::string();
    it = buckets_.try_emplace(slot, Bucket{options_.burst, now, 0}).first;
  }
  Bucket& bucket = it->second;
  const double elapsed = std::max(0.0, absl::ToDoubleSeconds(now - bucket.refilled));
  bucket.tokens = std::min(options_.burst, bucket.tokens + elapsed * options_.per_second);
  bucket.refilled = now;
  Decision decision;
  if (bucket.tokens < 1) {
    ++bucket.suppressed;
    return decision;
  }
  bucket.tokens -= 1;
  decision.write = true;
  decision.suppressed_before = bucket.suppressed;
  bucket.suppressed = 0;
  return decision;
}

std::vector<std::pair<std::string, uint64_t>> LineRateLimit::TakeSuppressed() {
  std::vector<std::pair<std::string, uint64_t>> out;
  sync::MutexLock lock(&mutex_);
  for (auto& [key, bucket] : buckets_) {
    if (bucket.suppressed == 0) continue;
    out.emplace_back(key, bucket.suppressed);
    bucket.suppressed = 0;
  }
  return out;
}

}  // namespace palisade::access_log
