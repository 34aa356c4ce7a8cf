#include "proxy/identity_client/backoff.h"

#include <gtest/gtest.h>

namespace palisade::identity_client {
namespace {

class BackoffTest : public ::testing::Test {
 protected:
  Backoff Make(Backoff::Options options = {}) {
    return Backoff(options, [this] { return random_; });
  }
  double random_ = 0.5;  // the middle of the jitter range: no spread
};

TEST_F(BackoffTest, StartsAtTheInitialDelayAndDoubles) {
  Backoff backoff = Make();
  EXPECT_EQ(backoff.Next(), absl::Seconds(1));
  EXPECT_EQ(backoff.Next(), absl::Seconds(2));
  EXPECT_EQ(backoff.Next(), absl::Seconds(4));
  EXPECT_EQ(backoff.attempts(), 3);
}

TEST_F(BackoffTest, NeverWaitsLongerThanTheMaximum) {
  Backoff backoff = Make();
  for (int i = 0; i < 10; ++i) backoff.Next();
  EXPECT_EQ(backoff.Next(), absl::Seconds(30));
  random_ = 0.999;  // jitter upwards is capped too
  EXPECT_EQ(backoff.Next(), absl::Seconds(30));
}

TEST_F(BackoffTest, SpreadsEachDelayByTheJitter) {
  Backoff::Options options;
  options.initial = absl::Seconds(10);
  options.max = absl::Minutes(5);
  random_ = 0.0;
  EXPECT_EQ(Make(options).Next(), absl::Seconds(8));
  random_ = 1.0;
  EXPECT_EQ(Make(options).Next(), absl::Seconds(12));
}

TEST_F(BackoffTest, StartsOverAfterReset) {
  Backoff backoff = Make();
  backoff.Next();
  backoff.Next();
  backoff.Reset();
  EXPECT_EQ(backoff.attempts(), 0);
  EXPECT_EQ(backoff.Next(), absl::Seconds(1));
}

TEST_F(BackoffTest, UsesTheConfiguredDelays) {
  Backoff::Options options;
  options.initial = absl::Milliseconds(250);
  options.max = absl::Milliseconds(600);
  Backoff backoff = Make(options);
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(250));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(500));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(600));
}

}  // namespace
}  // namespace palisade::identity_client
