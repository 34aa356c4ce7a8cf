// gMock matchers for absl::Status and absl::StatusOr, so tests assert the error
// code and the rule named in the message rather than just "not ok":
//   EXPECT_THAT(SpiffeId::Parse("x"), StatusIs(absl::StatusCode::kInvalidArgument,
//                                               HasSubstr("scheme")));
//   EXPECT_THAT(DoThing(), IsOk());
//   ASSERT_OK_AND_ASSIGN(SpiffeId id, SpiffeId::Parse("spiffe://td/a"));
#ifndef PALISADE_TESTS_UTIL_STATUS_MATCHERS_H_
#define PALISADE_TESTS_UTIL_STATUS_MATCHERS_H_

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace palisade {
namespace testing {
namespace internal_status {

inline const absl::Status& GetStatus(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

template <typename MessageMatcher>
class StatusIsMatcher {
 public:
  StatusIsMatcher(absl::StatusCode code, MessageMatcher message)
      : code_(code), message_(std::move(message)) {}

  template <typename T>
  operator ::testing::Matcher<T>() const {  // NOLINT: implicit by design
    return ::testing::MakeMatcher(new Impl<T>(code_, message_));
  }

 private:
  template <typename T>
  class Impl : public ::testing::MatcherInterface<T> {
   public:
    Impl(absl::StatusCode code, const MessageMatcher& message)
        : code_(code), message_(::testing::SafeMatcherCast<const std::string&>(message)) {}
    bool MatchAndExplain(T value, ::testing::MatchResultListener* listener) const override {
      const absl::Status& status = GetStatus(value);
      *listener << "whose status is " << status;
      return status.code() == code_ &&
             message_.MatchAndExplain(std::string(status.message()), listener);
    }
    void DescribeTo(std::ostream* os) const override {
      *os << "has status code " << absl::StatusCodeToString(code_) << " and message that ";
      message_.DescribeTo(os);
    }
    void DescribeNegationTo(std::ostream* os) const override {
      *os << "does not have status code " << absl::StatusCodeToString(code_)
          << " or has a message that ";
      message_.DescribeNegationTo(os);
    }

   private:
    absl::StatusCode code_;
    ::testing::Matcher<const std::string&> message_;
  };

  absl::StatusCode code_;
  MessageMatcher message_;
};

}  // namespace internal_status

// Matches an absl::Status or absl::StatusOr<T> whose code is `code` and whose
// message matches `message` (a matcher or a string for equality).
template <typename MessageMatcher>
internal_status::StatusIsMatcher<MessageMatcher> StatusIs(absl::StatusCode code,
                                                          MessageMatcher message) {
  return internal_status::StatusIsMatcher<MessageMatcher>(code, std::move(message));
}
inline auto StatusIs(absl::StatusCode code) { return StatusIs(code, ::testing::_); }

// Matches an OK absl::Status or an absl::StatusOr<T> that holds a value.
MATCHER(IsOk, "is OK") {
  const absl::Status& status = internal_status::GetStatus(arg);
  *result_listener << "whose status is " << status;
  return status.ok();
}

}  // namespace testing
}  // namespace palisade

#define PALISADE_STATUS_CONCAT_INNER_(a, b) a##b
#define PALISADE_STATUS_CONCAT_(a, b) PALISADE_STATUS_CONCAT_INNER_(a, b)

// ASSERT_OK_AND_ASSIGN(lhs, expr): asserts that the StatusOr `expr` holds a value
// and moves it into `lhs` (which may be a declaration).
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL_(PALISADE_STATUS_CONCAT_(status_or_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL_(status_or, lhs, expr)           \
  auto status_or = (expr);                                         \
  ASSERT_TRUE(status_or.ok()) << "status: " << status_or.status(); \
  lhs = std::move(status_or).value()

#define ASSERT_OK(expr) ASSERT_THAT((expr), ::palisade::testing::IsOk())
#define EXPECT_OK(expr) EXPECT_THAT((expr), ::palisade::testing::IsOk())

#endif  // PALISADE_TESTS_UTIL_STATUS_MATCHERS_H_
