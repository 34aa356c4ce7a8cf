#include "proxy/access_log/line_rate_limit.h"

#include <gtest/gtest.h>

namespace palisade::access_log {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1000);

TEST(LineRateLimitTest, WritesABurstThenHoldsBackAndCountsWhatItHeld) {
  LineRateLimit limit({/*burst=*/3, /*per_second=*/1, /*max_keys=*/16});
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limit.Take("in|timeout", kStart).write);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(limit.Take("in|timeout", kStart).write);
  // A second later one more line, which says how many were held back.
  const LineRateLimit::Decision next = limit.Take("in|timeout", kStart + absl::Seconds(1));
  EXPECT_TRUE(next.write);
  EXPECT_EQ(next.suppressed_before, 5u);
  EXPECT_FALSE(limit.Take("in|timeout", kStart + absl::Seconds(1)).write);
}

TEST(LineRateLimitTest, HandsOverTheCountsHeldBackOnce) {
  LineRateLimit limit({/*burst=*/1, /*per_second=*/1, /*max_keys=*/16});
  for (int i = 0; i < 4; ++i) limit.Take("a", kStart);
  limit.Take("b", kStart);
  const auto counts = limit.TakeSuppressed();
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[0].first, "a");
  EXPECT_EQ(counts[0].second, 3u);
  EXPECT_TRUE(limit.TakeSuppressed().empty());
  // Already reported: the next line says nothing was held back since.
  EXPECT_EQ(limit.Take("a", kStart + absl::Seconds(1)).suppressed_before, 0u);
}

TEST(LineRateLimitTest, KeysHaveBucketsOfTheirOwn) {
  LineRateLimit limit({/*burst=*/1, /*per_second=*/1, /*max_keys=*/16});
  EXPECT_TRUE(limit.Take("in|timeout", kStart).write);
  EXPECT_FALSE(limit.Take("in|timeout", kStart).write);
  EXPECT_TRUE(limit.Take("in|tls_error", kStart).write);
  EXPECT_TRUE(limit.Take("other|timeout", kStart).write);
}

TEST(LineRateLimitTest, RefillsNoFurtherThanTheBurst) {
  LineRateLimit limit({/*burst=*/2, /*per_second=*/10, /*max_keys=*/16});
  EXPECT_TRUE(limit.Take("k", kStart).write);
  const absl::Time later = kStart + absl::Hours(1);
  EXPECT_TRUE(limit.Take("k", later).write);
  EXPECT_TRUE(limit.Take("k", later).write);
  EXPECT_FALSE(limit.Take("k", later).write);
}

TEST(LineRateLimitTest, KeysBeyondTheCapShareOneBucket) {
  LineRateLimit limit({/*burst=*/1, /*per_second=*/1, /*max_keys=*/1});
  EXPECT_TRUE(limit.Take("first", kStart).write);
  EXPECT_TRUE(limit.Take("second", kStart).write);
  EXPECT_FALSE(limit.Take("third", kStart).write);
}

}  // namespace
}  // namespace palisade::access_log
