#include "control/auth/jwks_refresher.h"

#include <algorithm>

#include "control/auth/refusal.h"

namespace palisade::control::auth {

JwksRefresher::JwksRefresher(std::unique_ptr<IssuerKeyFetcher> fetcher,
                             ServiceAccountVerifier* verifier, Options options,
                             std::function<void(const Outcome&)> on_outcome)
    : fetcher_(std::move(fetcher)),
      verifier_(verifier),
      options_(std::move(options)),
      on_outcome_(std::move(on_outcome)) {}

JwksRefresher::~JwksRefresher() { Stop(); }

JwksRefresher::Outcome JwksRefresher::Start() {
  Outcome first = RefreshOnce("start");
  thread_ = std::thread([this] { Run(); });
  return first;
}

void JwksRefresher::Stop() {
  {
    sync::MutexLock lock(&mu_);
    stopping_ = true;
    mu_.NotifyAll();
  }
  if (thread_.joinable()) thread_.join();
}

bool JwksRefresher::RequestRefresh() {
  sync::MutexLock lock(&mu_);
  const absl::Time now = options_.clock();
  // One stranger's token with a made-up kid per interval, not per token,
  // reaches the issuer.
  if (now - last_request_ < options_.unknown_key_min_interval) return false;
  last_request_ = now;
  requested_ = true;
  mu_.NotifyAll();
  return true;
}

absl::Time JwksRefresher::last_success() const {
  sync::MutexLock lock(&mu_);
  return last_success_;
}

uint64_t JwksRefresher::fetches() const {
  sync::MutexLock lock(&mu_);
  return fetches_;
}

JwksRefresher::Outcome JwksRefresher::RefreshOnce(const std::string& trigger) {
  absl::StatusOr<IssuerKeys> fetched = fetcher_->Fetch();  // blocking, no lock held
  Outcome outcome;
  outcome.trigger = trigger;
  const absl::Time now = options_.clock();
  if (fetched.ok()) {
    outcome.result = "ok";
    outcome.keys = fetched->jwks->size();
    outcome.changed = fetched->text != text_;
    // The verifier swaps its set under its own lock; a Verify in progress
    // keeps the set it started with.
    if (outcome.changed) verifier_->ReplaceJwks(fetched->jwks);
    text_ = std::move(fetched->text);
  } else {
    outcome.result = RefusalReason(fetched.status());
    outcome.detail = std::string(fetched.status().message());
    outcome.keys = verifier_->jwks()->size();
  }
  {
    sync::MutexLock lock(&mu_);
    ++fetches_;
    if (fetched.ok()) last_success_ = now;
    const absl::Duration wait =
        fetched.ok() ? options_.interval : std::min(options_.retry_interval, options_.interval);
    next_ = now + wait;
  }
  on_outcome_(outcome);
  return outcome;
}

void JwksRefresher::Run() {
  for (;;) {
    std::string trigger;
    {
      sync::MutexLock lock(&mu_);
      for (;;) {
        if (stopping_) return;
        if (requested_) {
          trigger = "unknown_key";
          break;
        }
        const absl::Duration left = next_ - options_.clock();
        if (left <= absl::ZeroDuration()) {
          trigger = "interval";
          break;
        }
        mu_.AwaitWithTimeout([this]()
                                 ABSL_NO_THREAD_SAFETY_ANALYSIS { return stopping_ || requested_; },
                             std::min(left, absl::Seconds(1)));
      }
      requested_ = false;
    }
    RefreshOnce(trigger);
  }
}

}  // namespace palisade::control::auth
