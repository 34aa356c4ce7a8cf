#include "control/federation/bundle_fetcher.h"

#include <gtest/gtest.h>

namespace palisade::control::federation {
namespace {

TEST(BundleFetcherTest, FollowsTheRefreshHintWithinTheBoundsAndBacksOffUpToIt) {
  BundleFetcher::Options o;
  o.min_refresh = absl::Seconds(30);
  o.max_refresh = absl::Hours(1);
  EXPECT_EQ(BundleFetcher::NextWait(o, absl::Minutes(5), 0), absl::Minutes(5));
  EXPECT_EQ(BundleFetcher::NextWait(o, absl::Seconds(1), 0), absl::Seconds(30));
  EXPECT_EQ(BundleFetcher::NextWait(o, absl::Hours(24), 0), absl::Hours(1));
  EXPECT_EQ(BundleFetcher::NextWait(o, std::nullopt, 0), absl::Hours(1));
  // After failures: from the minimum, doubling, never past the interval.
  EXPECT_EQ(BundleFetcher::NextWait(o, absl::Minutes(5), 1), absl::Seconds(30));
  EXPECT_EQ(BundleFetcher::NextWait(o, absl::Minutes(5), 2), absl::Minutes(1));
  EXPECT_EQ(BundleFetcher::NextWait(o, absl::Minutes(5), 4), absl::Minutes(4));
  EXPECT_EQ(BundleFetcher::NextWait(o, absl::Minutes(5), 40), absl::Minutes(5));
}

}  // namespace
}  // namespace palisade::control::federation
