#include "proxy/identity_client/renewal_policy.h"

#include <gtest/gtest.h>

#include <vector>

namespace palisade::identity_client {
namespace {

// An SVID issued at t0 for one hour, looked at the moment it arrives.
class RenewalPolicyTest : public ::testing::Test {
 protected:
  absl::Time Next(std::optional<absl::Time> hint = std::nullopt, double random = 0.5) {
    return NextRenewalTime(t0_, t0_ + absl::Hours(1), now_, hint, policy_, random);
  }
  const absl::Time t0_ = absl::FromUnixSeconds(1'700'000'000);
  absl::Time now_ = t0_;
  RenewalPolicy policy_;
};

TEST_F(RenewalPolicyTest, RenewsHalfwayThroughTheLifetimeByDefault) {
  EXPECT_EQ(Next(), t0_ + absl::Minutes(30));
}

TEST_F(RenewalPolicyTest, UsesTheConfiguredFraction) {
  policy_.fraction = 0.6;
  EXPECT_EQ(Next(), t0_ + absl::Minutes(36));
}

TEST_F(RenewalPolicyTest, SpreadsRenewalsByTheJitter) {
  EXPECT_EQ(Next(std::nullopt, 0.0), t0_ + absl::Minutes(27));
  EXPECT_EQ(Next(std::nullopt, 1.0), t0_ + absl::Minutes(33));
  EXPECT_EQ(Next(std::nullopt, 0.75), t0_ + absl::Seconds(30 * 60 + 90));
}

TEST_F(RenewalPolicyTest, WaitsAtMostTheMaximum) {
  policy_.max_wait = absl::Minutes(10);
  EXPECT_EQ(Next(), t0_ + absl::Minutes(10));
}

TEST_F(RenewalPolicyTest, WaitsAtLeastTheMinimum) {
  now_ = t0_ + absl::Minutes(40);  // e.g. a proxy restarted with an older SVID
  EXPECT_EQ(Next(), now_ + absl::Seconds(5));
}

TEST_F(RenewalPolicyTest, ObeysTheServersHintOverItsOwnSchedule) {
  EXPECT_EQ(Next(t0_ + absl::Minutes(12)), t0_ + absl::Minutes(12));
  EXPECT_EQ(Next(t0_ + absl::Minutes(48)), t0_ + absl::Minutes(48));
  policy_.max_wait = absl::Minutes(10);  // our own cap is ours, not the server's
  EXPECT_EQ(Next(t0_ + absl::Minutes(48)), t0_ + absl::Minutes(48));
}

TEST_F(RenewalPolicyTest, NeverFollowsAHintPastNinetyPercentOfTheLifetime) {
  EXPECT_EQ(Next(t0_ + absl::Hours(2)), t0_ + absl::Minutes(54));
}

TEST_F(RenewalPolicyTest, AHintInThePastMeansSoonButNotInATightLoop) {
  EXPECT_EQ(Next(t0_ - absl::Hours(1)), now_ + absl::Seconds(5));
}

TEST_F(RenewalPolicyTest, RenewsAtOnceWhenTheLatestMomentHasPassed) {
  now_ = t0_ + absl::Minutes(58);
  EXPECT_EQ(Next(), now_);
  now_ = t0_ + absl::Hours(2);  // already expired
  EXPECT_EQ(Next(t0_ + absl::Minutes(20)), now_);
}

TEST(RetryDelayTest, TakesTheBackoffWhileTheSvidHasLifeToSpare) {
  const absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  EXPECT_EQ(RetryDelay(absl::Seconds(8), now, now + absl::Hours(1), RetryBounds{}),
            absl::Seconds(8));
}

TEST(RetryDelayTest, NeverWaitsPastExpiryAndTriesSeveralTimesBeforeIt) {
  // A 60 s SVID whose renewal fell due at 30 s, as the control plane went
  // away for 30 s: the backoff alone (30 s cap) would first try again after
  // expiry. Attempts must fall before it, the last shortly before it.
  const absl::Time not_after = absl::FromUnixSeconds(1'700'000'060);
  absl::Time now = not_after - absl::Seconds(30);
  absl::Duration backoff = absl::Seconds(1);
  std::vector<absl::Time> attempts;
  for (int i = 0; i < 40 && now < not_after; ++i) {
    now += RetryDelay(backoff, now, not_after, RetryBounds{});
    if (now < not_after) attempts.push_back(now);
    backoff = std::min(backoff * 2, absl::Seconds(30));
  }
  ASSERT_GE(attempts.size(), 5u);
  EXPECT_GE(attempts.back(), not_after - absl::Seconds(3));  // a last chance near expiry
  for (size_t i = 1; i < attempts.size(); ++i) EXPECT_GT(attempts[i], attempts[i - 1]);
}

TEST(RetryDelayTest, WithoutAValidSvidWaitsNoLongerThanTheExpiredCap) {
  const absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  RetryBounds bounds;
  EXPECT_EQ(RetryDelay(absl::Seconds(30), now, now - absl::Seconds(1), bounds),
            bounds.expired_max_wait);
  EXPECT_EQ(RetryDelay(absl::Seconds(30), now, std::nullopt, bounds), bounds.expired_max_wait);
  EXPECT_EQ(RetryDelay(absl::Seconds(1), now, std::nullopt, bounds), absl::Seconds(1));
}

TEST(RetryDelayTest, NeverSpinsInATightLoop) {
  const absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  EXPECT_EQ(RetryDelay(absl::Seconds(30), now, now + absl::Milliseconds(10), RetryBounds{}),
            RetryBounds{}.min_wait);
}

}  // namespace
}  // namespace palisade::identity_client
