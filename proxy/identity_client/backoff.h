// How long the proxy waits before reconnecting to the control plane:
// exponential from an initial delay, capped, each delay spread by jitter so a
// fleet that lost its control plane at once does not return at once.
#ifndef PALISADE_PROXY_IDENTITY_CLIENT_BACKOFF_H_
#define PALISADE_PROXY_IDENTITY_CLIENT_BACKOFF_H_

#include <functional>

#include "absl/time/time.h"

namespace palisade::identity_client {

// Not thread-safe: owned by the one thread that reconnects.
class Backoff {
 public:
  struct Options {
    absl::Duration initial = absl::Seconds(1);  // config initial_backoff
    absl::Duration max = absl::Seconds(30);     // config max_backoff
    double multiplier = 2.0;
    double jitter = 0.2;  // each delay is spread by +/- this share
  };
  // `unit_random` returns values uniform in [0, 1).
  Backoff(Options options, std::function<double()> unit_random);

  // The delay before the next attempt; the one after it will be longer.
  absl::Duration Next();
  // After a stream that worked: the next delay is the initial one again.
  void Reset();
  int attempts() const { return attempts_; }

 private:
  const Options options_;
  const std::function<double()> unit_random_;
  absl::Duration base_;
  int attempts_ = 0;
};

}  // namespace palisade::identity_client

#endif  // PALISADE_PROXY_IDENTITY_CLIENT_BACKOFF_H_
