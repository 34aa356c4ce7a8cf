// The connection cap and the request deadline of an HttpServer, over real
// loopback sockets.
#include "runtime/http/connection_limiter.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "runtime/http/http_server.h"
#include "runtime/log/logging.h"

namespace palisade::http {
namespace {

constexpr char kGet[] = "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

int Connect(const net::SocketAddress& address) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(address.port());
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

void Send(int fd, const std::string& bytes) {
  ASSERT_EQ(send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
}

// What arrives on `fd` within `timeout`: "" for nothing, "EOF" for a close.
std::string ReadFor(int fd, absl::Duration timeout) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout))) != 1) return "";
  char buf[4096];
  const ssize_t n = recv(fd, buf, sizeof(buf), 0);
  return n > 0 ? std::string(buf, n) : "EOF";
}

class ConnectionLimiterTest : public ::testing::Test {
 protected:
  void Start(ConnectionLimits limits) {
    server_ = std::make_unique<HttpServer>(std::move(limits));
    server_->Route("GET", "/hello", [](const HttpRequest&) {
      return HttpResponse{200, "text/plain", "hi"};
    });
    ASSERT_TRUE(server_->Start(*net::SocketAddress::Parse("127.0.0.1:0")).ok());
  }
  ~ConnectionLimiterTest() override {
    for (const int fd : fds_) close(fd);
  }
  int Open() {
    const int fd = Connect(server_->address());
    fds_.push_back(fd);
    return fd;
  }

  std::unique_ptr<HttpServer> server_;
  std::vector<int> fds_;
};

TEST_F(ConnectionLimiterTest, WaitsAtTheCapAndAcceptsAgainOnceAConnectionEnds) {
  ConnectionLimits limits;
  limits.max_connections = 3;
  limits.request_deadline = absl::Seconds(30);
  Start(limits);
  std::vector<int> holders;
  for (int i = 0; i < 3; ++i) {
    holders.push_back(Open());
    Send(holders.back(), "GET /hel");  // a head that does not end
  }
  const int waiting = Open();  // completes in the kernel's backlog
  ASSERT_GE(waiting, 0);
  Send(waiting, kGet);
  EXPECT_EQ(ReadFor(waiting, absl::Milliseconds(600)), "");
  EXPECT_EQ(server_->connection_stats().open, 3u);
  EXPECT_EQ(server_->connection_stats().cap_reached, 1u);

  close(holders[0]);  // evhttp frees it; the server accepts the waiting one
  fds_.erase(fds_.begin());
  const std::string reply = ReadFor(waiting, absl::Seconds(3));
  EXPECT_NE(reply.find("200 OK"), std::string::npos) << reply;
  EXPECT_EQ(server_->connection_stats().accepted, 4u);
}

TEST_F(ConnectionLimiterTest, ClosesAHeadDrippedPastTheDeadlineHoweverSteadyTheDrip) {
  ConnectionLimits limits;
  limits.request_deadline = absl::Milliseconds(800);
  std::atomic<int> observed{0};  // written on the server's thread
  limits.observer = [&observed](ConnectionEvent e) {
    if (e == ConnectionEvent::kRequestDeadlineClosed) ++observed;
  };
  Start(limits);
  const int fd = Open();
  const absl::Time start = absl::Now();
  std::string reply;
  // One byte every 100 ms: evhttp's idle timeout would restart on each.
  for (const char c : std::string("GET /hello HTTP/1.1\r\nX-Drip: aaaaaaaaaaaaaaaaaaaaaaaaa")) {
    if (send(fd, &c, 1, MSG_NOSIGNAL) != 1) break;
    reply = ReadFor(fd, absl::Milliseconds(100));
    if (!reply.empty()) break;
  }
  const absl::Duration closed_after = absl::Now() - start;
  EXPECT_EQ(reply, "EOF");
  EXPECT_GE(closed_after, absl::Milliseconds(750));
  EXPECT_LT(closed_after, absl::Milliseconds(2000));
  EXPECT_EQ(server_->connection_stats().request_deadline_closed, 1u);
  EXPECT_EQ(observed.load(), 1);
}

TEST_F(ConnectionLimiterTest, AKeptAliveConnectionGetsAFreshDeadlinePerRequest) {
  ConnectionLimits limits;
  limits.request_deadline = absl::Milliseconds(500);
  Start(limits);
  const int fd = Open();
  for (int i = 0; i < 2; ++i) {
    Send(fd, kGet);
    const std::string reply = ReadFor(fd, absl::Seconds(3));
    ASSERT_NE(reply.find("200 OK"), std::string::npos) << reply;
    // Idle longer than the deadline: only evhttp's idle timeout applies here.
    absl::SleepFor(absl::Milliseconds(800));
  }
  EXPECT_EQ(server_->connection_stats().request_deadline_closed, 0u);
  EXPECT_EQ(server_->connection_stats().open, 1u);
}

size_t OpenDescriptors() {
  size_t n = 0;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (readdir(dir) != nullptr) ++n;
    closedir(dir);
  }
  return n;
}

TEST_F(ConnectionLimiterTest, GivesBackEveryDescriptorOnceConnectionsEnd) {
  ConnectionLimits limits;
  limits.request_deadline = absl::Milliseconds(300);
  Start(limits);
  const size_t before = OpenDescriptors();
  for (int i = 0; i < 10; ++i) {
    const int fd = Open();
    Send(fd, i % 2 == 0 ? std::string(kGet) : std::string("GET /hel"));  // served, or cut off
    EXPECT_NE(ReadFor(fd, absl::Seconds(3)), "");
  }
  for (const int fd : fds_) close(fd);
  fds_.clear();
  // evhttp frees each connection; the sweep deletes its events, closes its
  // socket and forgets it.
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while ((server_->connection_stats().open > 0 || OpenDescriptors() > before) &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(server_->connection_stats().open, 0u);
  EXPECT_EQ(OpenDescriptors(), before);
  EXPECT_EQ(server_->connection_stats().request_deadline_closed, 5u);
}

// A finished connection's descriptor number is given back only once the
// server's event loop no longer refers to it: otherwise a thread that gets
// that number (here: the test's pipes) races with the loop's late
// epoll_ctl() on it. ThreadSanitizer reports that race, so this test
// catches it under --config=tsan.
TEST_F(ConnectionLimiterTest, ReleasesADescriptorNumberOnlyAfterItsEvents) {
  ConnectionLimits limits;
  limits.request_deadline = absl::Seconds(30);
  Start(limits);
  const size_t before = OpenDescriptors();
  for (int round = 0; round < 3; ++round) {
    const int fd = Open();
    // The server ends the connection (as after a proxied one-shot fetch).
    Send(fd, "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    ASSERT_NE(ReadFor(fd, absl::Seconds(3)).find("200 OK"), std::string::npos);
    EXPECT_EQ(ReadFor(fd, absl::Seconds(3)), "EOF");
    close(fd);
    fds_.clear();
    // Once the server's socket is gone, take the lowest free numbers (its
    // number among them) from this thread while the server sweeps.
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (OpenDescriptors() > before && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    int pipes[4][2];
    for (auto& p : pipes) ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
    while (server_->connection_stats().open > 0 && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    absl::SleepFor(absl::Milliseconds(250));  // one more sweep period, not an assertion
    for (auto& p : pipes) {
      close(p[0]);
      close(p[1]);
    }
    EXPECT_EQ(server_->connection_stats().open, 0u);
  }
}

std::atomic<int> accept_warnings{0};

double CpuSeconds() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

TEST_F(ConnectionLimiterTest, BacksOffWhileOutOfDescriptorsInsteadOfSpinning) {
  Start(ConnectionLimits{});
  const int client = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(client, 0);
  fds_.push_back(client);
  rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  // No descriptor left for accept: the lowest free one is above the limit.
  const int lowest = dup(0);
  ASSERT_GE(lowest, 0);
  close(lowest);
  rlimit tight = saved;
  tight.rlim_cur = lowest;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &tight), 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(server_->address().port());
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  // Our own warning is not formatted while there is no descriptor: the
  // sanitizers' runtime needs some for its checks there.
  log::SetLogLevel(log::Level::kError);
  // libevent warns at each failed accept() it has no error callback for.
  event_set_log_callback([](int, const char* message) {
    if (std::strstr(message, "accept") != nullptr) ++accept_warnings;
  });
  ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&to), sizeof(to)), 0);
  const double cpu_before = CpuSeconds();
  absl::SleepFor(absl::Milliseconds(500));
  const double cpu = CpuSeconds() - cpu_before;
  setrlimit(RLIMIT_NOFILE, &saved);
  log::SetLogLevel(log::Level::kInfo);
  event_set_log_callback(nullptr);
  const uint64_t errors = server_->connection_stats().accept_errors;
  std::cout << "FIGURES: in 500 ms out of descriptors: " << cpu << " CPU seconds, "
            << accept_warnings.load() << " libevent accept warnings, " << errors
            << " accept errors counted" << std::endl;
  EXPECT_LT(cpu, 0.05);
  EXPECT_EQ(accept_warnings.load(), 0);
  EXPECT_GE(errors, 1u);
  EXPECT_LE(errors, 10u);  // one per 100 ms
  // Descriptors back: the waiting connection is served.
  Send(client, kGet);
  const std::string reply = ReadFor(client, absl::Seconds(3));
  EXPECT_NE(reply.find("200 OK"), std::string::npos) << reply;
}

TEST(ConnectionLimiterDefaultTest, TakesAtMostAThirtySecondOfTheDescriptors) {
  rlimit limit;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  const size_t cap = ConnectionLimiter::DefaultMaxConnections();
  EXPECT_GE(cap, 4u);
  EXPECT_LE(cap, 64u);
  if (limit.rlim_cur >= 128) EXPECT_LE(cap, limit.rlim_cur / 32);
}

}  // namespace
}  // namespace palisade::http
