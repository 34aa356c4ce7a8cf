// TcpRelay against a real echo server on loopback: bytes pass both ways, a
// rule that turns to refuse closes the relayed connection and refuses new
// ones, and the client end of a connection is found in its owner's fds.
#include "tests/util/tcp_relay.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>

#include "tests/util/echo_thread.h"
#include "tests/util/loopback.h"

namespace palisade::testing {
namespace {

uint16_t LocalPort(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

TEST(TcpRelayTest, RelaysUntilTheRuleRefusesThenAgain) {
  EchoThread echo;
  std::atomic<bool> refuse{false};
  auto relay = TcpRelay::Start(echo.address().port(), [&](uint16_t) { return refuse.load(); });
  ASSERT_TRUE(relay.ok()) << relay.status();
  const int fd = ConnectLoopback((*relay)->port(), absl::Seconds(5));
  ASSERT_GE(fd, 0);
  EXPECT_EQ(EchoExchange(fd, "through the relay"), "through the relay");

  refuse = true;
  (*relay)->Recheck();
  EXPECT_EQ(EchoExchange(fd, "cut"), "");  // closed by the relay
  close(fd);
  const int refused = ConnectLoopback((*relay)->port(), absl::Seconds(5));
  ASSERT_GE(refused, 0);  // accepted, then closed at once
  EXPECT_EQ(EchoExchange(refused, "refused"), "");
  close(refused);

  refuse = false;
  const int again = ConnectLoopback((*relay)->port(), absl::Seconds(5));
  ASSERT_GE(again, 0);
  EXPECT_EQ(EchoExchange(again, "healed"), "healed");
  close(again);
}

TEST(TcpRelayTest, FindsTheProcessHoldingTheClientEnd) {
  EchoThread echo;
  auto relay = TcpRelay::Start(echo.address().port(), [](uint16_t) { return false; });
  ASSERT_TRUE(relay.ok()) << relay.status();
  const int fd = ConnectLoopback((*relay)->port(), absl::Seconds(5));
  ASSERT_GE(fd, 0);
  const uint16_t source = LocalPort(fd);
  EXPECT_EQ(LoopbackClientOwner(source, (*relay)->port(), {getpid()}), getpid());
  EXPECT_EQ(LoopbackClientOwner(source, (*relay)->port(), {getppid()}), -1);
  EXPECT_EQ(LoopbackClientOwner(source, echo.address().port(), {getpid()}), -1);
  close(fd);
}

}  // namespace
}  // namespace palisade::testing
