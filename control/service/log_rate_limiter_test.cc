#include "control/service/log_rate_limiter.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace palisade::control::service {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

TEST(LogRateLimiterTest, WritesTheBurstThenCountsUntilTheIntervalEnds) {
  LogRateLimiter limiter({.burst = 2, .interval = absl::Seconds(10)});
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  EXPECT_TRUE(limiter.Admit("untrusted_chain", t0));
  EXPECT_TRUE(limiter.Admit("untrusted_chain", t0));
  EXPECT_FALSE(limiter.Admit("untrusted_chain", t0));
  EXPECT_FALSE(limiter.Admit("untrusted_chain", t0 + absl::Seconds(1)));
  EXPECT_TRUE(limiter.Admit("expired", t0));  // per reason
  EXPECT_THAT(limiter.TakeSuppressed(t0 + absl::Seconds(5)), IsEmpty());
  // After the interval the count comes out once, and the window reopens.
  EXPECT_FALSE(limiter.Admit("untrusted_chain", t0 + absl::Seconds(11)));
  EXPECT_THAT(limiter.TakeSuppressed(t0 + absl::Seconds(11)),
              ElementsAre(Pair("untrusted_chain", 3)));
  EXPECT_THAT(limiter.TakeSuppressed(t0 + absl::Seconds(30)), IsEmpty());
  EXPECT_TRUE(limiter.Admit("untrusted_chain", t0 + absl::Seconds(12)));
}

TEST(LogRateLimiterTest, AQuietReasonStartsAFreshWindow) {
  LogRateLimiter limiter({.burst = 1, .interval = absl::Seconds(10)});
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  EXPECT_TRUE(limiter.Admit("expired", t0));
  EXPECT_TRUE(limiter.Admit("expired", t0 + absl::Seconds(10)));
}

TEST(LogRateLimiterTest, BoundsTheKeysItTracks) {
  LogRateLimiter limiter({.burst = 1, .interval = absl::Seconds(10), .max_keys = 2});
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  EXPECT_TRUE(limiter.Admit("a", t0));
  EXPECT_TRUE(limiter.Admit("b", t0));
  EXPECT_TRUE(limiter.Admit("c", t0));   // "other"
  EXPECT_FALSE(limiter.Admit("d", t0));  // "other" again
  EXPECT_THAT(limiter.TakeSuppressed(t0 + absl::Seconds(10)), ElementsAre(Pair("other", 1)));
}

}  // namespace
}  // namespace palisade::control::service
