#include "tests/util/echo_load.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/util/loopback.h"

namespace palisade::testing {
namespace {

// One request of 64 bytes and its echo; false if the connection ended first.
bool RoundTrip(int fd, const std::string& request, bool* corrupted) {
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return false;
  }
  std::string echoed;
  char buf[256];
  while (echoed.size() < request.size()) {
    const ssize_t n = recv(fd, buf, std::min(sizeof(buf), request.size() - echoed.size()), 0);
    if (n <= 0) return false;
    echoed.append(buf, n);
  }
  if (echoed != request) *corrupted = true;
  return true;
}

std::string Request(int stream, int64_t n) {
  std::string r = absl::StrCat("stream ", stream, " request ", n, " ");
  r.resize(64, '.');
  return r;
}

}  // namespace

void RunLoad(uint16_t port, bool reconnect, std::atomic<bool>* stop, LoadResult* result) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int64_t n = 0; !stop->load(); ++n) {
        bool corrupted = false;
        const int fd = ConnectLoopback(port, absl::Seconds(10));
        if (fd >= 0 && RoundTrip(fd, Request(100 + t, n), &corrupted)) {
          ++result->new_ok;
        } else {
          ++result->new_failed;
        }
        if (corrupted) ++result->corrupted;
        if (fd >= 0) close(fd);
        absl::SleepFor(absl::Milliseconds(20));  // pacing: the load's rate, not a wait
      }
    });
  }
  for (int s = 0; s < 4; ++s) {
    threads.emplace_back([&, s] {
      int fd = ConnectLoopback(port, absl::Seconds(10));
      for (int64_t n = 0; !stop->load(); ++n) {
        bool corrupted = false;
        const std::string request = Request(s, n);
        bool answered = fd >= 0 && RoundTrip(fd, request, &corrupted);
        if (!answered && reconnect && !stop->load()) {
          // Closed gracefully (re-authentication): reconnect, resend.
          if (fd >= 0) close(fd);
          fd = ConnectLoopback(port, absl::Seconds(10));
          ++result->stream_reconnects;
          answered = fd >= 0 && RoundTrip(fd, request, &corrupted);
        }
        if (corrupted) ++result->corrupted;
        if (answered) {
          ++result->stream_requests;
        } else if (!stop->load()) {
          ++result->stream_failures;
          ++result->lost_requests;
          if (fd >= 0) close(fd);
          fd = ConnectLoopback(port, absl::Seconds(10));
        }
        absl::SleepFor(absl::Milliseconds(50));  // pacing: the load's rate, not a wait
      }
      if (fd >= 0) close(fd);
    });
  }
  for (auto& t : threads) t.join();
}

std::string Describe(const LoadResult& r) {
  return absl::StrCat("short connections ", r.new_ok.load(), " ok, ", r.new_failed.load(),
                      " failed; stream requests ", r.stream_requests.load(), ", reconnects ",
                      r.stream_reconnects.load(), ", stream failures ", r.stream_failures.load(),
                      "; lost requests ", r.lost_requests.load(), ", corrupted ",
                      r.corrupted.load());
}

}  // namespace palisade::testing
