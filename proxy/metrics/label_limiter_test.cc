#include "proxy/metrics/label_limiter.h"

#include <gtest/gtest.h>

#include <string>

namespace palisade::metrics {
namespace {

TEST(LabelLimiterTest, KeepsTheFirstValuesAndFoldsTheRestIntoOther) {
  LabelLimiter limiter(3);
  bool folded = true;
  EXPECT_EQ(limiter.Label("a", &folded), "a");
  EXPECT_FALSE(folded);
  limiter.Label("b", &folded);
  limiter.Label("c", &folded);
  EXPECT_EQ(limiter.Label("d", &folded), "other");
  EXPECT_TRUE(folded);
  // Values seen before the cap keep their name.
  EXPECT_EQ(limiter.Label("b", &folded), "b");
  EXPECT_FALSE(folded);
  EXPECT_EQ(limiter.distinct(), 3u);
}

TEST(LabelLimiterTest, HoldsItsCapUnderManyDistinctValues) {
  LabelLimiter limiter(1000);
  int folded_count = 0;
  for (int i = 0; i < 5000; ++i) {
    bool folded = false;
    limiter.Label("spiffe://td/client/" + std::to_string(i), &folded);
    folded_count += folded;
  }
  EXPECT_EQ(limiter.distinct(), 1000u);
  EXPECT_EQ(folded_count, 4000);
}

}  // namespace
}  // namespace palisade::metrics
