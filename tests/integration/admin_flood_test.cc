// A slow-header flood on the proxy's admin port must not starve the data
// plane of descriptors: with `ulimit -n 256`, 300 connections that drip a
// request head one byte a second, while inbound mTLS keeps answering and the
// admin server closes the drippers at its head deadline.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/integration/proxy_fixture.h"
#include "tests/util/loopback.h"
#include "tests/util/status_matchers.h"

namespace palisade::testing {
namespace {

constexpr int kOpenFiles = 256;
constexpr int kDrippers = 300;
constexpr absl::Duration kAttack = absl::Seconds(14);  // the 10 s head deadline and slack
constexpr char kHead[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Drip: ";

uint16_t PortOf(const std::string& url) {
  uint32_t port = 0;
  (void)absl::SimpleAtoi(url.substr(url.rfind(':') + 1), &port);
  return static_cast<uint16_t>(port);
}

// A non-blocking connection to 127.0.0.1:`port` from 127.0.0.66, an
// "attacker" source address; -1 on failure.
int ConnectFromAttacker(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  sockaddr_in from{};
  from.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.66", &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof(from)) != 0 ||
      (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0 && errno != EINPROGRESS)) {
    close(fd);
    return -1;
  }
  return fd;
}

// True once the server has closed `fd` (EOF, reset, or a refused write).
bool ClosedByServer(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, 0) == 1 && (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
    char c;
    const ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  }
  return false;
}

size_t OpenDescriptors(pid_t pid) {
  DIR* dir = opendir(absl::StrCat("/proc/", pid, "/fd").c_str());
  if (dir == nullptr) return 0;
  size_t n = 0;
  while (readdir(dir) != nullptr) ++n;
  closedir(dir);
  return n > 2 ? n - 2 : 0;  // "." and ".."
}

class AdminFloodTest : public TwoHopMesh {};

TEST_F(AdminFloodTest, SlowHeadersOnTheAdminPortDoNotStarveInboundMtls) {
  SpawnOptions few_files;
  few_files.open_files = kOpenFiles;
  ASSERT_OK_AND_ASSIGN(
      inbound_, mesh_.StartReadyProxy("inbound", InboundConfig(), absl::Seconds(20), few_files));
  ASSERT_OK_AND_ASSIGN(inbound_port_, inbound_->ListenerPort("in"));
  ASSERT_OK_AND_ASSIGN(inbound_http_port_, inbound_->ListenerPort("in-http"));
  StartOutbound();
  {
    const int fd = ConnectLoopback(outbound_port_, absl::Seconds(5));
    ASSERT_GE(fd, 0);
    ASSERT_EQ(EchoExchange(fd, "warm"), "warm");
    close(fd);
  }
  const uint16_t admin_port = PortOf(inbound_->admin_url());
  const pid_t inbound_pid = inbound_->process().pid();

  // The attack: every dripper sends one more byte of a head that never ends,
  // once a second, and notes when the server closes it.
  const absl::Time start = absl::Now();
  std::vector<int> drippers;
  for (int i = 0; i < kDrippers; ++i) {
    const int fd = ConnectFromAttacker(admin_port);
    if (fd >= 0) drippers.push_back(fd);
  }
  std::vector<absl::Duration> closed_after(drippers.size(), absl::InfiniteDuration());
  std::atomic<size_t> max_descriptors{0};
  std::thread attacker([&] {
    for (size_t step = 0; absl::Now() - start < kAttack; ++step) {
      for (size_t i = 0; i < drippers.size(); ++i) {
        if (closed_after[i] != absl::InfiniteDuration()) continue;
        if (ClosedByServer(drippers[i])) {
          closed_after[i] = absl::Now() - start;
          continue;
        }
        const char byte = step < sizeof(kHead) - 1 ? kHead[step] : 'a';
        (void)send(drippers[i], &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      }
      max_descriptors = std::max(max_descriptors.load(), OpenDescriptors(inbound_pid));
      absl::SleepFor(absl::Seconds(1));
    }
  });

  // Meanwhile, a new connection through inbound mTLS every 300 ms.
  int probes = 0;
  int failed = 0;
  absl::Duration slowest;
  while (absl::Now() - start < kAttack) {
    const absl::Time begin = absl::Now();
    const int fd = ConnectLoopback(outbound_port_, absl::Seconds(3));
    const bool ok = fd >= 0 && EchoExchange(fd, "ping-through-mtls") == "ping-through-mtls";
    if (fd >= 0) close(fd);
    ++probes;
    if (!ok) ++failed;
    slowest = std::max(slowest, absl::Now() - begin);
    absl::SleepFor(absl::Milliseconds(300));
  }
  attacker.join();

  size_t closed = 0;
  absl::Duration first_close = absl::InfiniteDuration();
  for (const absl::Duration d : closed_after) {
    if (d == absl::InfiniteDuration()) continue;
    ++closed;
    first_close = std::min(first_close, d);
  }
  for (const int fd : drippers) close(fd);
  const std::string figures =
      absl::StrCat("connected drippers ", drippers.size(), ", closed by the proxy within ",
                   absl::FormatDuration(kAttack), ": ", closed, " (first after ",
                   absl::FormatDuration(first_close), "); mTLS probes ", probes, ", failed ",
                   failed, ", slowest ", absl::FormatDuration(slowest),
                   "; proxy descriptors at most ", max_descriptors.load(), " of ", kOpenFiles);
  std::cout << "FIGURES: " << figures << std::endl;

  EXPECT_EQ(failed, 0) << figures;
  EXPECT_LT(slowest, absl::Seconds(2)) << figures;  // a probe gives up after 3 s
  // The admin server holds a small share of the descriptors...
  EXPECT_LT(max_descriptors.load(), static_cast<size_t>(kOpenFiles / 2)) << figures;
  // ...and closes the connections it admitted at the head deadline, not later.
  EXPECT_GE(closed, 1u) << figures;
  EXPECT_GE(first_close, absl::Seconds(9)) << figures;
  EXPECT_LE(first_close, absl::Seconds(13)) << figures;  // checked once a second
  // Once the drippers leave (those still in the backlog too), the admin
  // port answers again promptly.
  const absl::Time left = absl::Now();
  const std::string metrics = inbound_->Metrics();
  const absl::Duration answered_after = absl::Now() - left;
  std::cout << "FIGURES: admin /metrics answered " << absl::FormatDuration(answered_after)
            << " after the drippers closed" << std::endl;
  EXPECT_LT(answered_after, absl::Seconds(5));
  EXPECT_GE(
      MetricSum(metrics, "palisade_admin_connection_cap_reached_total", {{"server", "admin"}}), 1)
      << figures;
  EXPECT_GE(MetricSum(metrics, "palisade_admin_connections_closed_total",
                      {{"server", "admin"}, {"reason", "request_deadline"}}),
            static_cast<double>(closed))
      << figures;
}

}  // namespace
}  // namespace palisade::testing
