#include "runtime/net/sockets.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace palisade::net {
namespace {

// SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST (both 80, kernel ABI). Their headers
// (<linux/netfilter_ipv4.h>) clash with <netinet/in.h>.
constexpr int kSoOriginalDst = 80;

absl::Status Errno(absl::string_view what, const SocketAddress& address) {
  const int e = errno;
  return absl::UnavailableError(
      absl::StrCat(what, " ", address.ToString(), ": ", std::strerror(e)));
}

}  // namespace

absl::StatusOr<UniqueFd> BindListener(const SocketAddress& address, bool reuse_port, int backlog) {
  UniqueFd fd(socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP));
  if (!fd.valid()) return Errno("socket for", address);
  const int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (reuse_port && setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
    return Errno("SO_REUSEPORT on", address);
  }
  if (address.family() == AF_INET6) {
    // "[::]:port" means IPv6 only; listen on 0.0.0.0 separately for IPv4.
    setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  }
  if (bind(fd.get(), address.sockaddr_ptr(), address.length()) != 0) {
    return Errno("cannot bind", address);
  }
  if (listen(fd.get(), backlog) != 0) return Errno("cannot listen on", address);
  return fd;
}

absl::StatusOr<SocketAddress> LocalAddressOf(int fd) {
  sockaddr_storage storage{};
  socklen_t len = sizeof(storage);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &len) != 0) {
    return absl::InternalError(absl::StrCat("getsockname: ", std::strerror(errno)));
  }
  return SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&storage), len);
}

absl::StatusOr<SocketAddress> PeerAddressOf(int fd) {
  sockaddr_storage storage{};
  socklen_t len = sizeof(storage);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&storage), &len) != 0) {
    return absl::InternalError(absl::StrCat("getpeername: ", std::strerror(errno)));
  }
  return SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&storage), len);
}

absl::StatusOr<SocketAddress> OriginalDestinationOf(int fd) {
  sockaddr_storage storage{};
  socklen_t len = sizeof(sockaddr_in6);
  // The IPv6 option first: it answers for IPv6 sockets; IPv4 ones fail it.
  if (getsockopt(fd, SOL_IPV6, kSoOriginalDst, &storage, &len) == 0) {
    return SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&storage), len);
  }
  len = sizeof(sockaddr_in);
  if (getsockopt(fd, SOL_IP, kSoOriginalDst, &storage, &len) == 0) {
    return SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&storage), len);
  }
  return absl::FailedPreconditionError(
      absl::StrCat("no original destination (SO_ORIGINAL_DST): ", std::strerror(errno)));
}

absl::StatusOr<UniqueFd> StartConnect(const SocketAddress& address, uint32_t mark) {
  UniqueFd fd(socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP));
  if (!fd.valid()) return Errno("socket for", address);
  if (mark != 0 && setsockopt(fd.get(), SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) != 0) {
    return Errno("SO_MARK (needs CAP_NET_ADMIN) for", address);
  }
  SetNoDelay(fd.get());
  if (connect(fd.get(), address.sockaddr_ptr(), address.length()) != 0 && errno != EINPROGRESS) {
    return Errno("cannot connect to", address);
  }
  return fd;
}

absl::Status ConnectResult(int fd) {
  int error = 0;
  socklen_t len = sizeof(error);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) error = errno;
  if (error == 0) return absl::OkStatus();
  return absl::UnavailableError(SocketErrorReason(error));
}

void SetNoDelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int UnreadBytes(int fd) {
  int bytes = 0;
  return ioctl(fd, FIONREAD, &bytes) == 0 ? bytes : 0;
}

void SetResetOnClose(int fd) {
  const linger abort{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof(abort));
}

const char* SocketErrorReason(int error_number) {
  switch (error_number) {
    case ECONNREFUSED:
      return "connection_refused";
    case ECONNRESET:
      return "connection_reset";
    case EPIPE:
      return "broken_pipe";
    case ETIMEDOUT:
      return "timeout";
    case EHOSTUNREACH:
    case ENETUNREACH:
      return "unreachable";
    default:
      return "socket_error";
  }
}

std::vector<std::string> KnownSocketErrorReasons() {
  // Asked of the switch above rather than listed again beside it.
  std::vector<std::string> known;
  for (int error_number : {ECONNREFUSED, ECONNRESET, EPIPE, ETIMEDOUT, EHOSTUNREACH, 0}) {
    known.emplace_back(SocketErrorReason(error_number));
  }
  return known;
}

}  // namespace palisade::net
