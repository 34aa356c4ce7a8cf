#include "runtime/tls/tls_transport.h"

#include <openssl/err.h>
#include <sys/socket.h>

#include <cerrno>
#include <climits>

#include "runtime/net/sockets.h"
#include "runtime/tls/tls_error.h"

namespace palisade::tls {

using net::IoResult;
using net::IoStatus;
using net::Readiness;

TlsTransport::TlsTransport(net::UniqueFd fd, bssl::UniquePtr<SSL> ssl)
    : fd_(std::move(fd)), ssl_(std::move(ssl)) {
  SSL_set_fd(ssl_.get(), fd_.get());
  // The pump retries writes from its own buffer, which may have moved.
  SSL_set_mode(ssl_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}

TlsTransport::~TlsTransport() {
  // Freed before the fd closes (member order would do the reverse).
  ssl_.reset();
}

IoResult TlsTransport::Handshake() {
  ERR_clear_error();
  const int ret = SSL_do_handshake(ssl_.get());
  if (ret == 1) return {IoStatus::kOk, 0};
  return Classify(ret, /*in_handshake=*/true);
}

IoResult TlsTransport::Read(char* buffer, size_t length) {
  ERR_clear_error();
  const int ret = SSL_read(ssl_.get(), buffer, static_cast<int>(std::min<size_t>(length, INT_MAX)));
  if (ret > 0) return {IoStatus::kOk, static_cast<size_t>(ret)};
  return Classify(ret, /*in_handshake=*/false);
}

IoResult TlsTransport::Write(const char* data, size_t length) {
  if (length == 0) return {IoStatus::kOk, 0};
  ERR_clear_error();
  const int ret = SSL_write(ssl_.get(), data, static_cast<int>(std::min<size_t>(length, INT_MAX)));
  if (ret > 0) return {IoStatus::kOk, static_cast<size_t>(ret)};
  return Classify(ret, /*in_handshake=*/false);
}

IoResult TlsTransport::ShutdownWrite() {
  if (!close_notify_sent_) {
    ERR_clear_error();
    const int ret = SSL_shutdown(ssl_.get());
    if (ret < 0) {
      const IoResult r = Classify(ret, /*in_handshake=*/false);
      if (r.status == IoStatus::kWouldBlock) return r;
      // Reading may go on even if the alert could not be sent.
    }
    close_notify_sent_ = true;
  }
  // Then a TCP FIN, for peers that wait for EOF rather than close_notify.
  ::shutdown(fd_.get(), SHUT_WR);
  return {IoStatus::kOk, 0};
}

bool TlsTransport::HasUnreadData() const {
  // BoringSSL reads no further ahead than the record it decrypts, so what it
  // has not decrypted yet is still in the socket.
  return SSL_has_pending(ssl_.get()) || net::UnreadBytes(fd_.get()) > 0;
}

void TlsTransport::ResetOnClose() { net::SetResetOnClose(fd_.get()); }

IoResult TlsTransport::Classify(int ret, bool in_handshake) {
  const int err = SSL_get_error(ssl_.get(), ret);
  switch (err) {
    case SSL_ERROR_WANT_READ:
      return {IoStatus::kWouldBlock, 0, Readiness::kRead};
    case SSL_ERROR_WANT_WRITE:
      return {IoStatus::kWouldBlock, 0, Readiness::kWrite};
    case SSL_ERROR_ZERO_RETURN:
      if (in_handshake) break;
      return {IoStatus::kEof, 0};
    case SSL_ERROR_SYSCALL: {
      const int saved_errno = errno;
      if (ERR_peek_error() == 0 && (ret == 0 || saved_errno == 0)) {
        // TCP EOF without close_notify.
        if (in_handshake) {
          error_ = kPeerClosedReason;
          error_detail_ = "peer closed the connection during the handshake";
          return {IoStatus::kError, 0};
        }
        truncated_ = true;
        // Clients that are done often skip close_notify (openssl s_client,
        // many HTTP clients): a server takes the FIN as their end. A server
        // (for us: an upstream proxy, which always sends close_notify) that
        // skips it has died or been cut off: passing that on as a clean end
        // would hide bytes it may have lost.
        if (SSL_is_server(ssl_.get())) return {IoStatus::kEof, 0};
        error_ = "truncated";
        error_detail_ = "the server closed TCP without close_notify";
        return {IoStatus::kError, 0};
      }
      if (ERR_peek_error() == 0) {
        error_ = net::SocketErrorReason(saved_errno);
        error_detail_ = error_;
        return {IoStatus::kError, 0};
      }
      break;
    }
    default:
      break;
  }
  const uint32_t first = DrainErrorQueue(&error_detail_);
  error_ = first != 0 ? ReasonForSslError(first) : "tls_error";
  return {IoStatus::kError, 0};
}

}  // namespace palisade::tls
