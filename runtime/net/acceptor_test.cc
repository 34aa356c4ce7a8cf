#include "runtime/net/acceptor.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "runtime/event/event_loop.h"
#include "runtime/net/sockets.h"

namespace palisade::net {
namespace {

class AcceptorTest : public ::testing::Test {
 protected:
  AcceptorTest() {
    loop_ = *event::EventLoop::Create();
    listener_ = *BindListener(*SocketAddress::Parse("127.0.0.1:0"), false);
    address_ = *LocalAddressOf(listener_.get());
  }

  // Runs the loop until `done` holds (looked at every 5 ms) or 10 s passed.
  void RunUntil(const std::function<bool()>& done) {
    std::function<void()> poll;
    event::Timer check(loop_.get(), [&] { poll(); });
    poll = [&] {
      if (done()) {
        loop_->Stop();
      } else {
        check.Arm(absl::Milliseconds(5));
      }
    };
    event::Timer guard(loop_.get(), [&] { loop_->Stop(); });
    guard.Arm(absl::Seconds(10));
    poll();
    loop_->Run();
  }

  std::unique_ptr<event::EventLoop> loop_;
  UniqueFd listener_;
  SocketAddress address_;
};

TEST_F(AcceptorTest, TakesEveryQueuedConnectionInBatchesAcrossTurns) {
  std::vector<UniqueFd> clients;
  for (int i = 0; i < 7; ++i) clients.push_back(*StartConnect(address_));
  std::vector<std::string> peers;
  std::vector<UniqueFd> accepted;
  Acceptor acceptor(
      loop_.get(), listener_.get(),
      [&](UniqueFd fd, const SocketAddress& peer) {
        peers.push_back(peer.ToString());
        accepted.push_back(std::move(fd));
      },
      [](const char*) { ADD_FAILURE() << "refused"; }, Acceptor::Options{2, absl::Seconds(1)});
  acceptor.Start();
  EXPECT_EQ(accepted.size(), 2u);  // one batch now, the rest on later turns
  RunUntil([&] { return accepted.size() == 7; });
  ASSERT_EQ(accepted.size(), 7u);
  for (const std::string& peer : peers) EXPECT_EQ(peer.rfind("127.0.0.1:", 0), 0u) << peer;
}

TEST_F(AcceptorTest, WhenOutOfDescriptorsLeavesConnectionsQueuedAndTriesAgain) {
  rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  UniqueFd client = *StartConnect(address_);
  // No descriptor left for accept4: the lowest free one is above the limit.
  int lowest = dup(0);
  ASSERT_GE(lowest, 0);
  close(lowest);
  rlimit tight = saved;
  tight.rlim_cur = lowest;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &tight), 0);
  std::vector<std::string> refusals;
  int accepted = 0;
  Acceptor acceptor(
      loop_.get(), listener_.get(), [&](UniqueFd, const SocketAddress&) { ++accepted; },
      [&](const char* reason) {
        refusals.push_back(reason);
        if (refusals.size() == 2) setrlimit(RLIMIT_NOFILE, &saved);  // descriptors come back
      },
      Acceptor::Options{16, absl::Milliseconds(20)});
  acceptor.Start();
  RunUntil([&] { return accepted == 1; });
  setrlimit(RLIMIT_NOFILE, &saved);
  EXPECT_EQ(accepted, 1);
  ASSERT_GE(refusals.size(), 2u);
  EXPECT_EQ(refusals[0], "fd_limit");
}

}  // namespace
}  // namespace palisade::net
