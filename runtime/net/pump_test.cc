#include "runtime/net/pump.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "runtime/event/event_loop.h"
#include "runtime/net/plain_transport.h"
#include "runtime/sync/mutex.h"
#include "tests/util/process.h"

namespace palisade::net {
namespace {

// app_client <-> [downstream | pump | upstream] <-> app_server, over socketpairs.
// The loop runs on its own thread; the apps use blocking sockets on the test's.
class PumpHarness {
 public:
  explicit PumpHarness(Pump::Options options = {}) {
    int down[2], up[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, down), 0);
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, up), 0);
    app_client_ = UniqueFd(down[0]);
    app_server_ = UniqueFd(up[1]);
    fcntl(down[1], F_SETFL, O_NONBLOCK);
    fcntl(up[0], F_SETFL, O_NONBLOCK);
    loop_ = std::move(event::EventLoop::Create()).value();
    thread_ = std::thread([this] { loop_->Run(); });
    sync::Notification created;
    loop_->Post([&, d = down[1], u = up[0]] {
      downstream_ = std::make_unique<PlainTransport>(UniqueFd(d));
      upstream_ = std::make_unique<PlainTransport>(UniqueFd(u));
      pump_ = std::make_unique<Pump>(loop_.get(), downstream_.get(), upstream_.get(), options,
                                     Pump::Callbacks{[this] { done_.Notify(); },
                                                     [this](Side side, const std::string& reason) {
                                                       error_side_ = side;
                                                       error_reason_ = reason;
                                                       failed_.Notify();
                                                     }});
      down_watch_ = std::make_unique<event::FdWatcher>(
          loop_.get(), d, [this](bool r, bool w) { pump_->OnReadiness(Side::kDownstream, r, w); });
      up_watch_ = std::make_unique<event::FdWatcher>(
          loop_.get(), u, [this](bool r, bool w) { pump_->OnReadiness(Side::kUpstream, r, w); });
      pump_->Start();
      created.Notify();
    });
    created.WaitForNotification();
  }

  ~PumpHarness() {
    sync::Notification destroyed;
    loop_->Post([&] {
      down_watch_.reset();
      up_watch_.reset();
      pump_.reset();
      downstream_.reset();
      upstream_.reset();
      destroyed.Notify();
    });
    destroyed.WaitForNotification();
    loop_->Stop();
    thread_.join();
  }

  // FinishGracefully, on the pump's thread.
  void FinishGracefully() {
    sync::Notification asked;
    loop_->Post([&] {
      pump_->FinishGracefully();
      asked.Notify();
    });
    asked.WaitForNotification();
  }

  int app_client() const { return app_client_.get(); }
  int app_server() const { return app_server_.get(); }
  sync::Notification done_;
  sync::Notification failed_;
  Side error_side_ = Side::kDownstream;
  std::string error_reason_;
  // Reads the pump's counters on its own thread.
  uint64_t BytesFromDownstream() {
    std::atomic<uint64_t> n{0};
    sync::Notification read;
    loop_->Post([&] {
      n = pump_->bytes_from_downstream();
      read.Notify();
    });
    read.WaitForNotification();
    return n;
  }

 private:
  UniqueFd app_client_, app_server_;
  std::unique_ptr<event::EventLoop> loop_;
  std::thread thread_;
  std::unique_ptr<PlainTransport> downstream_, upstream_;
  std::unique_ptr<Pump> pump_;
  std::unique_ptr<event::FdWatcher> down_watch_, up_watch_;
};

std::string Pattern(size_t n, uint8_t seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed) & 0xff);
  return s;
}

bool WriteAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n <= 0) return false;
    off += n;
  }
  return true;
}

std::string ReadToEof(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) return out;
    out.append(buf, n);
  }
}

TEST(PumpTest, CarriesBothDirectionsIntactAndPropagatesHalfClose) {
  PumpHarness h;
  const std::string request = Pattern(8 << 20, 1);
  const std::string response = Pattern(6 << 20, 7);

  std::string server_got;
  std::thread server([&] {
    server_got = ReadToEof(h.app_server());  // ends only if the client's FIN was passed on
    ASSERT_TRUE(WriteAll(h.app_server(), response));
    shutdown(h.app_server(), SHUT_WR);
  });
  ASSERT_TRUE(WriteAll(h.app_client(), request));
  shutdown(h.app_client(), SHUT_WR);
  // The client still receives the whole reply after closing its write side.
  const std::string client_got = ReadToEof(h.app_client());
  server.join();

  EXPECT_TRUE(server_got == request) << "request corrupted, got " << server_got.size();
  EXPECT_TRUE(client_got == response) << "response corrupted, got " << client_got.size();
  EXPECT_TRUE(h.done_.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_FALSE(h.failed_.HasBeenNotified());
}

TEST(PumpTest, StopsReadingWhileTheOtherSideDoesNotDrain) {
  Pump::Options options;
  options.high_water_bytes = 64 * 1024;
  PumpHarness h(options);
  fcntl(h.app_client(), F_SETFL, O_NONBLOCK);
  const std::string chunk(64 * 1024, 'x');
  size_t accepted = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(2);
  // Keep offering 64 MiB to a server that reads nothing.
  while (absl::Now() < deadline && accepted < (64u << 20)) {
    const ssize_t n = write(h.app_client(), chunk.data(), chunk.size());
    if (n > 0) {
      accepted += n;
    } else {
      // Full: wait until the pump drains some of it, or the time is up.
      pollfd writable{h.app_client(), POLLOUT, 0};
      poll(&writable, 1,
           static_cast<int>(
               std::max<int64_t>(0, absl::ToInt64Milliseconds(deadline - absl::Now()) + 1)));
    }
  }
  // Socket buffers plus the pump's high-water mark; far below 64 MiB.
  EXPECT_LT(accepted, 16u << 20);
  EXPECT_LE(h.BytesFromDownstream(), accepted);
}

TEST(PumpTest, ReportsTheSideThatBroke) {
  PumpHarness h;
  ASSERT_TRUE(WriteAll(h.app_client(), "hello"));
  char buf[5];
  ASSERT_EQ(read(h.app_server(), buf, 5), 5);
  // The server vanishes with unread data: the next write towards it fails.
  ASSERT_TRUE(WriteAll(h.app_server(), "bye"));
  ::shutdown(h.app_server(), SHUT_RDWR);
  fcntl(h.app_client(), F_SETFL, O_NONBLOCK);
  const std::string more(64 * 1024, 'y');
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline && !h.failed_.HasBeenNotified()) {
    // Full: give the pump a moment to report, then offer more.
    if (write(h.app_client(), more.data(), more.size()) < 0) {
      h.failed_.WaitForNotificationWithTimeout(absl::Milliseconds(5));
    }
  }
  ASSERT_TRUE(h.failed_.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(h.error_side_, Side::kUpstream);
  EXPECT_FALSE(h.error_reason_.empty());
}

TEST(PumpTest, AGracefulFinishDeliversWhatWasAcceptedThenEndsUpstreamFirst) {
  Pump::Options options;
  options.high_water_bytes = 64 * 1024;
  PumpHarness h(options);
  // Written in full while the server reads nothing: some of it waits unread
  // in the client's socket, some in the pump, some in the server's socket
  // when the finish is asked for. (A writer still writing is another story:
  // what it has not written yet was never accepted.)
  const std::string request = Pattern(256 << 10, 3);
  std::thread client([&] { ASSERT_TRUE(WriteAll(h.app_client(), request)); });
  client.join();
  h.FinishGracefully();
  // The server gets every byte the client wrote, then its end ...
  std::string server_got;
  std::thread server([&] { server_got = ReadToEof(h.app_server()); });
  server.join();
  EXPECT_TRUE(server_got == request) << "got " << server_got.size() << " of " << request.size();
  // ... and what it still sends reaches the client before the client's end.
  const std::string reply = Pattern(1 << 20, 9);
  std::string client_got;
  std::thread reader([&] { client_got = ReadToEof(h.app_client()); });
  ASSERT_TRUE(WriteAll(h.app_server(), reply));
  shutdown(h.app_server(), SHUT_WR);
  reader.join();
  EXPECT_TRUE(client_got == reply) << "got " << client_got.size() << " of " << reply.size();
  EXPECT_TRUE(h.done_.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_FALSE(h.failed_.HasBeenNotified());
}

TEST(PumpTest, BytesSentAfterTheirDirectionEndedAreReportedNotDropped) {
  PumpHarness h;
  h.FinishGracefully();
  char byte;
  ASSERT_EQ(read(h.app_server(), &byte, 1), 0);   // the server was told the client is done
  ASSERT_TRUE(WriteAll(h.app_client(), "late"));  // the client did not know
  ASSERT_TRUE(h.failed_.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(h.error_side_, Side::kDownstream);
  EXPECT_EQ(h.error_reason_, "undeliverable");
  EXPECT_FALSE(h.done_.HasBeenNotified());
}

}  // namespace
}  // namespace palisade::net
