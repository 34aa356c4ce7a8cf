#include "control/service/log_rate_limiter.h"

namespace palisade::control::service {

bool LogRateLimiter::Admit(const std::string& key, absl::Time now) {
  sync::MutexLock lock(&mu_);
  auto found = windows_.find(key);
  if (found == windows_.end()) {
    const std::string& k = windows_.size() < options_.max_keys ? key : std::string("other");
    found = windows_.try_emplace(k, Window{now}).first;
  }
  Window& w = found->second;
  // A window with nothing left out starts afresh; one with a count waits
  // for TakeSuppressed, so that count is never lost.
  if (now - w.start >= options_.interval && w.suppressed == 0) w = Window{now};
  if (w.written < options_.burst) {
    ++w.written;
    return true;
  }
  ++w.suppressed;
  return false;
}

std::vector<std::pair<std::string, uint64_t>> LogRateLimiter::TakeSuppressed(absl::Time now) {
  std::vector<std::pair<std::string, uint64_t>> out;
  sync::MutexLock lock(&mu_);
  for (auto& [key, w] : windows_) {
    if (w.suppressed == 0 || now - w.start < options_.interval) continue;
    out.emplace_back(key, w.suppressed);
    w = Window{now};
  }
  return out;
}

}  // namespace palisade::control::service
