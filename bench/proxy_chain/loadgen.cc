// Load generator for the proxy-chain benchmark: plain TCP clients with
// blocking sockets, one thread per connection (the same for every proxy it
// measures, so its own cost cancels out in the ratios).
//
//   loadgen --mode=throughput --target=127.0.0.1:P --bytes=N      one connection to a sink
//   loadgen --mode=rr --target=... --connections=C --seconds=S     64-byte request/response
//   loadgen --mode=connrate --target=... --connections=C --seconds=S   new connection per request
//   loadgen --mode=hold --target=... --connections=N               open N, one round trip each,
//                                                                  then hold until stdin closes
// Prints one JSON object with the results.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "runtime/net/socket_address.h"

ABSL_FLAG(std::string, mode, "rr", "throughput, rr, connrate or hold");
ABSL_FLAG(std::string, target, "", "ip:port to connect to");
ABSL_FLAG(int64_t, bytes, 1LL << 30, "throughput: bytes to send");
ABSL_FLAG(int, connections, 16, "parallel connections");
ABSL_FLAG(double, seconds, 5, "duration of rr and connrate");
ABSL_FLAG(int, size, 64, "request and response size in bytes");

namespace {

using Clock = std::chrono::steady_clock;
palisade::net::SocketAddress target;

int Connect() {
  const int fd = socket(target.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (connect(fd, target.sockaddr_ptr(), target.length()) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    p += w;
    n -= w;
  }
  return true;
}

bool RecvAll(int fd, char* p, size_t n) {
  while (n > 0) {
    const ssize_t r = recv(fd, p, n, 0);
    if (r <= 0) return false;
    p += r;
    n -= r;
  }
  return true;
}

// One request of `size` bytes, one echoed response.
bool RoundTrip(int fd, std::string& buf) {
  return SendAll(fd, buf.data(), buf.size()) && RecvAll(fd, buf.data(), buf.size());
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * v.size()));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i];
}

int Throughput() {
  const int64_t total = absl::GetFlag(FLAGS_bytes);
  const int fd = Connect();
  if (fd < 0) return 1;
  std::string chunk(256 * 1024, 'x');
  const auto start = Clock::now();
  int64_t sent = 0;
  while (sent < total) {
    const size_t n = std::min<int64_t>(chunk.size(), total - sent);
    if (!SendAll(fd, chunk.data(), n)) return 1;
    sent += n;
  }
  shutdown(fd, SHUT_WR);
  // The sink answers with the byte count it saw, once it saw EOF.
  char ack[64] = {0};
  const ssize_t got = recv(fd, ack, sizeof(ack) - 1, 0);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  close(fd);
  const long long seen = got > 0 ? atoll(ack) : -1;
  std::cout << absl::StrFormat(
      "{\"mode\":\"throughput\",\"bytes\":%d,\"acknowledged\":%d,\"seconds\":%.4f,"
      "\"gbit_per_s\":%.3f}\n",
      total, seen, seconds, total * 8 / seconds / 1e9);
  return seen == total ? 0 : 1;
}

int RequestResponse(bool new_connection_each_time) {
  const int connections = absl::GetFlag(FLAGS_connections);
  const auto duration = std::chrono::duration<double>(absl::GetFlag(FLAGS_seconds));
  std::atomic<long> done{0}, errors{0};
  std::mutex mutex;
  std::vector<double> latencies;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(duration);
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&] {
      std::vector<double> mine;
      std::string buf(absl::GetFlag(FLAGS_size), 'r');
      int fd = new_connection_each_time ? -1 : Connect();
      while (Clock::now() < end) {
        const auto t0 = Clock::now();
        if (fd < 0) fd = Connect();
        if (fd < 0 || !RoundTrip(fd, buf)) {
          ++errors;
          if (fd >= 0) close(fd);
          fd = -1;
          continue;
        }
        if (new_connection_each_time) {
          close(fd);
          fd = -1;
        }
        mine.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
        ++done;
      }
      if (fd >= 0) close(fd);
      std::lock_guard<std::mutex> lock(mutex);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const double p50 = Percentile(latencies, 0.50), p99 = Percentile(latencies, 0.99);
  std::cout << absl::StrFormat(
      "{\"mode\":\"%s\",\"completed\":%d,\"errors\":%d,\"seconds\":%.3f,\"per_second\":%.1f,"
      "\"p50_us\":%.1f,\"p99_us\":%.1f}\n",
      new_connection_each_time ? "connrate" : "rr", done.load(), errors.load(), seconds,
      done / seconds, p50, p99);
  return errors.load() == 0 ? 0 : 1;
}

int Hold() {
  std::vector<int> fds;
  std::string buf(absl::GetFlag(FLAGS_size), 'h');
  int failed = 0;
  for (int i = 0; i < absl::GetFlag(FLAGS_connections); ++i) {
    const int fd = Connect();
    if (fd < 0 || !RoundTrip(fd, buf)) {
      ++failed;
      if (fd >= 0) close(fd);
      continue;
    }
    fds.push_back(fd);
  }
  std::cout << absl::StrFormat("{\"mode\":\"hold\",\"held\":%d,\"failed\":%d}\n", fds.size(),
                               failed)
            << std::flush;
  char c;
  while (read(0, &c, 1) > 0) {
  }
  for (int fd : fds) close(fd);
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  auto parsed = palisade::net::SocketAddress::Parse(absl::GetFlag(FLAGS_target));
  if (!parsed.ok()) {
    std::cerr << "--target: " << parsed.status().message() << "\n";
    return 2;
  }
  target = *parsed;
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode == "throughput") return Throughput();
  if (mode == "rr") return RequestResponse(false);
  if (mode == "connrate") return RequestResponse(true);
  if (mode == "hold") return Hold();
  std::cerr << "--mode must be throughput, rr, connrate or hold\n";
  return 2;
}
