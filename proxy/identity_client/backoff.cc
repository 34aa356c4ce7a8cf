#include "proxy/identity_client/backoff.h"

#include <algorithm>
#include <utility>

namespace palisade::identity_client {

Backoff::Backoff(Options options, std::function<double()> unit_random)
    : options_(options), unit_random_(std::move(unit_random)), base_(options.initial) {}

absl::Duration Backoff::Next() {
  const double spread = 1 + options_.jitter * (2 * unit_random_() - 1);
  const absl::Duration delay = std::min(base_ * spread, options_.max);
  base_ = std::min(base_ * options_.multiplier, options_.max);
  ++attempts_;
  return delay;
}

void Backoff::Reset() {
  base_ = options_.initial;
  attempts_ = 0;
}

}  // namespace palisade::identity_client
