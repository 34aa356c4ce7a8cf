#include "runtime/net/plain_transport.h"

#include <sys/socket.h>

#include <cerrno>

#include "runtime/net/sockets.h"

namespace palisade::net {

IoResult PlainTransport::Read(char* buffer, size_t length) {
  for (;;) {
    const ssize_t n = recv(fd_.get(), buffer, length, 0);
    if (n > 0) return {IoStatus::kOk, static_cast<size_t>(n)};
    if (n == 0) return {IoStatus::kEof, 0};
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return {IoStatus::kWouldBlock, 0, Readiness::kRead};
    return Fail(errno);
  }
}

IoResult PlainTransport::Write(const char* data, size_t length) {
  for (;;) {
    const ssize_t n = send(fd_.get(), data, length, MSG_NOSIGNAL);
    if (n >= 0) return {IoStatus::kOk, static_cast<size_t>(n)};
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return {IoStatus::kWouldBlock, 0, Readiness::kWrite};
    }
    return Fail(errno);
  }
}

IoResult PlainTransport::ShutdownWrite() {
  if (shutdown(fd_.get(), SHUT_WR) != 0 && errno != ENOTCONN) return Fail(errno);
  return {IoStatus::kOk, 0};
}

bool PlainTransport::HasUnreadData() const { return UnreadBytes(fd_.get()) > 0; }

void PlainTransport::ResetOnClose() { SetResetOnClose(fd_.get()); }

IoResult PlainTransport::Fail(int error_number) {
  error_ = SocketErrorReason(error_number);
  return {IoStatus::kError, 0};
}

}  // namespace palisade::net
