#include "runtime/net/blocking_connect.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/net/socket_address.h"
#include "runtime/net/sockets.h"

namespace palisade::net {
namespace {

constexpr int kPollSliceMs = 200;  // how soon a stopping caller is noticed

}  // namespace

absl::Status WaitReady(int fd, Readiness readiness, absl::Time deadline,
                       const std::atomic<bool>* stopping) {
  for (;;) {
    if (stopping != nullptr && stopping->load()) return absl::CancelledError("stopping");
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return absl::DeadlineExceededError("timed out");
    pollfd p{fd, static_cast<int16_t>(readiness == Readiness::kRead ? POLLIN : POLLOUT), 0};
    int wait_ms = static_cast<int>(absl::ToInt64Milliseconds(left)) + 1;
    if (stopping != nullptr) wait_ms = std::min(kPollSliceMs, wait_ms);
    const int n = ::poll(&p, 1, wait_ms);
    if (n > 0) return absl::OkStatus();
    if (n < 0 && errno != EINTR) {
      return absl::UnavailableError(absl::StrCat("poll: ", std::strerror(errno)));
    }
  }
}

absl::StatusOr<UniqueFd> ConnectTcp(const std::string& host, const std::string& port,
                                    absl::Time deadline, const std::atomic<bool>* stopping) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return absl::UnavailableError(absl::StrCat("cannot resolve ", host, ": ", gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> addresses(found, freeaddrinfo);
  absl::Status last = absl::UnavailableError("no address");
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const SocketAddress address = SocketAddress::FromSockaddr(a->ai_addr, a->ai_addrlen);
    absl::StatusOr<UniqueFd> fd = StartConnect(address);
    if (!fd.ok()) {
      last = absl::UnavailableError(fd.status().message());
      continue;
    }
    if (absl::Status s = WaitReady(fd->get(), Readiness::kWrite, deadline, stopping); !s.ok()) {
      if (absl::IsDeadlineExceeded(s)) {
        return absl::DeadlineExceededError(absl::StrCat("connect to ", address.ToString()));
      }
      return s;
    }
    if (absl::Status s = ConnectResult(fd->get()); !s.ok()) {
      last = absl::UnavailableError(
          absl::StrCat("connect to ", address.ToString(), ": ", s.message()));
      continue;
    }
    return fd;
  }
  return last;
}

}  // namespace palisade::net
