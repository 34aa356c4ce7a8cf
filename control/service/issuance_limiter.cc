#include "control/service/issuance_limiter.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "control/auth/refusal.h"

namespace palisade::control::service {
namespace {

constexpr int kMaxBurst = 100000;
constexpr int kMaxPerTtl = 1000000;
constexpr int kMaxUnexpired = 100000;

absl::Status FlagError(absl::string_view flag, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", problem));
}

// Whole seconds, at least one: what a proxy's operator reads.
std::string RetryIn(absl::Duration wait) {
  return absl::FormatDuration(std::max(absl::Ceil(wait, absl::Seconds(1)), absl::Seconds(1)));
}

}  // namespace

absl::Status IssuanceLimits::Validate() const {
  if (burst < 1 || burst > kMaxBurst) {
    return FlagError("issuance_burst", absl::StrCat(burst, " is not between 1 and ", kMaxBurst));
  }
  if (per_ttl < 1 || per_ttl > kMaxPerTtl) {
    return FlagError("issuance_per_ttl",
                     absl::StrCat(per_ttl, " is not between 1 and ", kMaxPerTtl));
  }
  if (max_unexpired < 1 || max_unexpired > kMaxUnexpired) {
    return FlagError("issuance_max_unexpired",
                     absl::StrCat(max_unexpired, " is not between 1 and ", kMaxUnexpired));
  }
  if (max_unexpired < burst) {
    return FlagError("issuance_max_unexpired",
                     absl::StrCat(max_unexpired, " is less than --issuance_burst (", burst,
                                  "): the burst could never be used"));
  }
  return absl::OkStatus();
}

IssuanceLimiter::Entry& IssuanceLimiter::EntryFor(const std::string& spiffe_id, absl::Time now) {
  auto [it, inserted] = entries_.try_emplace(spiffe_id);
  Entry& e = it->second;
  if (inserted) {
    e.tokens = limits_.burst;
  } else if (now > e.updated) {
    e.tokens = std::min<double>(
        limits_.burst, e.tokens + absl::FDivDuration(now - e.updated, limits_.RefillInterval()));
  }
  e.updated = std::max(e.updated, now);
  return e;
}

absl::Status IssuanceLimiter::Admit(const std::string& spiffe_id, size_t unexpired,
                                    absl::Time earliest_expiry, absl::Time now) {
  sync::MutexLock lock(&mu_);
  Entry& e = EntryFor(spiffe_id, now);
  if (unexpired >= static_cast<size_t>(limits_.max_unexpired)) {
    return auth::Refusal(absl::StatusCode::kResourceExhausted, kUnexpiredCapReason,
                         absl::StrCat(spiffe_id, " holds ", unexpired,
                                      " unexpired certificates, the most one identity may hold "
                                      "(--issuance_max_unexpired=",
                                      limits_.max_unexpired, "); retry in ",
                                      RetryIn(earliest_expiry - now), ", when the oldest expires"));
  }
  if (e.tokens < 1) {
    return auth::Refusal(
        absl::StatusCode::kResourceExhausted, kRateLimitedReason,
        absl::StrCat(spiffe_id, " reached its issuance rate limit (a burst of ", limits_.burst,
                     ", then ", limits_.per_ttl, " per ", absl::FormatDuration(limits_.svid_ttl),
                     "); retry in ", RetryIn((1 - e.tokens) * limits_.RefillInterval())));
  }
  e.tokens -= 1;
  return absl::OkStatus();
}

IssuanceLimiter::AuditTurn IssuanceLimiter::OnRefusal(const std::string& spiffe_id,
                                                      const std::string& reason, absl::Time now) {
  sync::MutexLock lock(&mu_);
  Entry& e = EntryFor(spiffe_id, now);
  AuditTurn turn;
  if (now - e.last_line >= limits_.audit_interval) {
    turn.record = true;
    turn.suppressed = e.suppressed;
    e.suppressed = 0;
    e.last_line = now;
  } else {
    ++e.suppressed;
    e.reason = reason;
  }
  return turn;
}

std::vector<IssuanceLimiter::Suppressed> IssuanceLimiter::Sweep(absl::Time now) {
  sync::MutexLock lock(&mu_);
  std::vector<Suppressed> out;
  for (auto it = entries_.begin(); it != entries_.end();) {
    Entry& e = it->second;
    const bool quiet = now - e.last_line >= limits_.audit_interval;
    if (e.suppressed > 0 && quiet) {
      out.push_back({it->first, e.reason, e.suppressed});
      e.suppressed = 0;
      e.last_line = now;
      ++it;
      continue;
    }
    const double tokens =
        e.tokens + absl::FDivDuration(std::max(now - e.updated, absl::ZeroDuration()),
                                      limits_.RefillInterval());
    // A full bucket that owes no line is what a new entry would be.
    if (tokens >= limits_.burst && e.suppressed == 0 && quiet) {
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

size_t IssuanceLimiter::tracked() const {
  sync::MutexLock lock(&mu_);
  return entries_.size();
}

}  // namespace palisade::control::service
