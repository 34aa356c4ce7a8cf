#include "control/service/issuance_limiter.h"

#include "control/auth/refusal.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/status_matchers.h"

namespace palisade::control::service {
namespace {

using ::palisade::testing::IsOk;
using ::palisade::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr char kA[] = "spiffe://td/ns/a/sa/a";
constexpr char kB[] = "spiffe://td/ns/b/sa/b";

IssuanceLimits Limits() {
  IssuanceLimits limits;
  limits.burst = 3;
  limits.per_ttl = 60;
  limits.svid_ttl = absl::Hours(1);  // one a minute, sustained
  limits.max_unexpired = 10;
  limits.audit_interval = absl::Minutes(1);
  return limits;
}

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

TEST(IssuanceLimiterTest, AllowsTheBurstThenRefusesWithTheRetryTime) {
  IssuanceLimiter limiter(Limits());
  for (int i = 0; i < 3; ++i)
    EXPECT_THAT(limiter.Admit(kA, 0, absl::InfiniteFuture(), kStart), IsOk());
  const absl::Status refused = limiter.Admit(kA, 0, absl::InfiniteFuture(), kStart);
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kResourceExhausted,
                                AllOf(HasSubstr(kA), HasSubstr("a burst of 3, then 60 per 1h"),
                                      HasSubstr("retry in 1m"))));
  EXPECT_EQ(auth::RefusalReason(refused), kRateLimitedReason);
}

TEST(IssuanceLimiterTest, RefillsAtTheSteadyRateAndNeverBeyondTheBurst) {
  IssuanceLimiter limiter(Limits());
  for (int i = 0; i < 3; ++i)
    ASSERT_THAT(limiter.Admit(kA, 0, absl::InfiniteFuture(), kStart), IsOk());
  EXPECT_THAT(limiter.Admit(kA, 0, absl::InfiniteFuture(), kStart + absl::Seconds(59)),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("retry in 1s")));
  EXPECT_THAT(limiter.Admit(kA, 0, absl::InfiniteFuture(), kStart + absl::Seconds(60)), IsOk());
  // A day idle refills the burst, not 1440 certificates.
  const absl::Time later = kStart + absl::Hours(24);
  for (int i = 0; i < 3; ++i)
    EXPECT_THAT(limiter.Admit(kA, 0, absl::InfiniteFuture(), later), IsOk());
  EXPECT_THAT(limiter.Admit(kA, 0, absl::InfiniteFuture(), later),
              StatusIs(absl::StatusCode::kResourceExhausted));
}

TEST(IssuanceLimiterTest, OneIdentitysFloodLeavesOthersTheirBurst) {
  IssuanceLimiter limiter(Limits());
  for (int i = 0; i < 100; ++i) (void)limiter.Admit(kA, 0, absl::InfiniteFuture(), kStart);
  for (int i = 0; i < 3; ++i)
    EXPECT_THAT(limiter.Admit(kB, 0, absl::InfiniteFuture(), kStart), IsOk());
}

TEST(IssuanceLimiterTest, RefusesAtTheUnexpiredCapUntilTheOldestExpires) {
  IssuanceLimiter limiter(Limits());
  const absl::Status refused = limiter.Admit(kA, 10, kStart + absl::Minutes(30), kStart);
  EXPECT_THAT(refused,
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr("10 unexpired certificates"),
                             HasSubstr("--issuance_max_unexpired=10"), HasSubstr("retry in 30m"))));
  EXPECT_EQ(auth::RefusalReason(refused), kUnexpiredCapReason);
  // The refusal spent nothing: below the cap the whole burst is there.
  for (int i = 0; i < 3; ++i)
    EXPECT_THAT(limiter.Admit(kA, 9, absl::InfiniteFuture(), kStart), IsOk());
}

TEST(IssuanceLimiterTest, AuditsOneRefusalPerIntervalAndCountsTheRest) {
  IssuanceLimiter limiter(Limits());
  IssuanceLimiter::AuditTurn first = limiter.OnRefusal(kA, kRateLimitedReason, kStart);
  EXPECT_TRUE(first.record);
  EXPECT_EQ(first.suppressed, 0u);
  for (int i = 0; i < 500; ++i) {
    EXPECT_FALSE(limiter.OnRefusal(kA, kRateLimitedReason, kStart + absl::Seconds(30)).record);
  }
  // Another identity is not held back by the first one's flood.
  EXPECT_TRUE(limiter.OnRefusal(kB, kRateLimitedReason, kStart + absl::Seconds(30)).record);
  IssuanceLimiter::AuditTurn next =
      limiter.OnRefusal(kA, kRateLimitedReason, kStart + absl::Seconds(61));
  EXPECT_TRUE(next.record);
  EXPECT_EQ(next.suppressed, 500u);
}

TEST(IssuanceLimiterTest, SweepReportsUnwrittenRefusalsOnceTheFloodStops) {
  IssuanceLimiter limiter(Limits());
  (void)limiter.OnRefusal(kA, kRateLimitedReason, kStart);
  for (int i = 0; i < 7; ++i) (void)limiter.OnRefusal(kA, kRateLimitedReason, kStart);
  EXPECT_TRUE(limiter.Sweep(kStart + absl::Seconds(30)).empty());
  const std::vector<IssuanceLimiter::Suppressed> owed = limiter.Sweep(kStart + absl::Minutes(1));
  ASSERT_EQ(owed.size(), 1u);
  EXPECT_EQ(owed[0].spiffe_id, kA);
  EXPECT_EQ(owed[0].reason, kRateLimitedReason);
  EXPECT_EQ(owed[0].count, 7u);
  EXPECT_TRUE(limiter.Sweep(kStart + absl::Minutes(5)).empty());
}

TEST(IssuanceLimiterTest, SweepForgetsIdentitiesWhoseBucketIsFullAgain) {
  IssuanceLimiter limiter(Limits());
  ASSERT_THAT(limiter.Admit(kA, 0, absl::InfiniteFuture(), kStart), IsOk());
  ASSERT_THAT(limiter.Admit(kB, 0, absl::InfiniteFuture(), kStart), IsOk());
  ASSERT_THAT(limiter.Admit(kB, 0, absl::InfiniteFuture(), kStart), IsOk());
  (void)limiter.Sweep(kStart + absl::Seconds(61));  // A refilled its one, B not its two
  EXPECT_EQ(limiter.tracked(), 1u);
  (void)limiter.Sweep(kStart + absl::Seconds(121));
  EXPECT_EQ(limiter.tracked(), 0u);
}

TEST(IssuanceLimitsTest, RejectsLimitsNamingTheFlag) {
  IssuanceLimits limits = Limits();
  EXPECT_THAT(limits.Validate(), IsOk());
  limits.burst = 0;
  EXPECT_THAT(limits.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--issuance_burst")));
  limits = Limits();
  limits.per_ttl = -1;
  EXPECT_THAT(limits.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--issuance_per_ttl")));
  limits = Limits();
  limits.max_unexpired = 2;  // below the burst of 3
  EXPECT_THAT(limits.Validate(), StatusIs(absl::StatusCode::kInvalidArgument,
                                          AllOf(HasSubstr("--issuance_max_unexpired"),
                                                HasSubstr("--issuance_burst"))));
}

}  // namespace
}  // namespace palisade::control::service
