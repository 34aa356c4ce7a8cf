#include "tests/util/loopback.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

namespace palisade::testing {
namespace {

// A one-connection echo server on a free loopback port; echoes until EOF.
class OneShotEcho {
 public:
  OneShotEcho() {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    socklen_t length = sizeof(addr);
    getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &length);
    port_ = ntohs(addr.sin_port);
    EXPECT_EQ(listen(listener_, 1), 0);
    thread_ = std::thread([this] {
      const int fd = accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      char buffer[1024];
      for (;;) {
        const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
        if (n <= 0 || send(fd, buffer, static_cast<size_t>(n), MSG_NOSIGNAL) != n) break;
      }
      close(fd);
    });
  }
  ~OneShotEcho() {
    shutdown(listener_, SHUT_RDWR);  // unblocks accept if nobody came
    thread_.join();
    close(listener_);
  }
  uint16_t port() const { return port_; }

 private:
  int listener_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

TEST(LoopbackTest, EchoExchangeGetsEveryByteBack) {
  OneShotEcho echo;
  const int fd = ConnectLoopback(echo.port(), absl::Seconds(5));
  ASSERT_GE(fd, 0);
  const std::string message(10000, 'm');
  EXPECT_EQ(EchoExchange(fd, message), message);
  close(fd);
}

TEST(LoopbackTest, SendAndReadToEndReadsUntilThePeerCloses) {
  OneShotEcho echo;
  EXPECT_EQ(SendAndReadToEnd(echo.port(), "hello"), "hello");
}

TEST(LoopbackTest, RefusedConnectionsAndFreePorts) {
  const uint16_t port = PickFreeLoopbackPort();
  ASSERT_NE(port, 0);
  EXPECT_EQ(ConnectLoopback(port, absl::Seconds(1)), -1);  // nobody listens there
  EXPECT_EQ(SendAndReadToEnd(port, "x"), "");
}

TEST(LoopbackTest, HeldPortIsTakenUntilReleased) {
  uint16_t port = 0;
  {
    HeldPort held;
    port = held.port();
    ASSERT_NE(port, 0);
    EXPECT_EQ(held.address(), "127.0.0.1:" + std::to_string(port));
    EXPECT_FALSE(CanBindLoopback(port));
  }
  EXPECT_TRUE(CanBindLoopback(port));
}

}  // namespace
}  // namespace palisade::testing
