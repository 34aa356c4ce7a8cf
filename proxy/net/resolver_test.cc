#include "proxy/net/resolver.h"

#include <gtest/gtest.h>

#include <optional>

namespace palisade::net {
namespace {

class ResolverTest : public ::testing::Test {
 protected:
  void SetUp() override { loop_ = std::move(event::EventLoop::Create()).value(); }

  // Runs the loop until the lookup answers (at most 10 s).
  std::optional<absl::StatusOr<SocketAddress>> ResolveNow(const std::string& target) {
    Resolver resolver(loop_.get());
    std::optional<absl::StatusOr<SocketAddress>> answer;
    auto handle = resolver.Resolve(*HostPort::Parse(target), [&](auto result) {
      answer = std::move(result);
      loop_->Stop();
    });
    event::Timer guard(loop_.get(), [&] { loop_->Stop(); });
    guard.Arm(absl::Seconds(10));
    loop_->Run();
    return answer;
  }

  std::unique_ptr<event::EventLoop> loop_;
};

TEST_F(ResolverTest, AnswersIpLiteralsWithoutALookup) {
  auto answer = ResolveNow("127.0.0.1:8443");
  ASSERT_TRUE(answer.has_value());
  ASSERT_TRUE(answer->ok()) << answer->status();
  EXPECT_EQ((*answer)->ToString(), "127.0.0.1:8443");
}

TEST_F(ResolverTest, ResolvesLocalhostFromTheHostsFile) {
  auto answer = ResolveNow("localhost:9000");
  ASSERT_TRUE(answer.has_value());
  ASSERT_TRUE(answer->ok()) << answer->status();
  EXPECT_TRUE((*answer)->IsLoopback()) << (*answer)->ToString();
  EXPECT_EQ((*answer)->port(), 9000);
}

TEST_F(ResolverTest, CancelledLookupNeverCallsBack) {
  Resolver resolver(loop_.get());
  bool called = false;
  {
    auto handle = resolver.Resolve(*HostPort::Parse("127.0.0.1:1"), [&](auto) { called = true; });
  }  // handle dropped: cancelled
  event::Timer stop(loop_.get(), [&] { loop_->Stop(); });
  stop.Arm(absl::Milliseconds(50));
  loop_->Run();
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace palisade::net
