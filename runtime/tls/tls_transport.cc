#include "runtime/tls/tls_transport.h"

#include <openssl/err.h>
#include <sys/socket.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <memory>

#include "runtime/net/sockets.h"
#include "runtime/tls/tls_error.h"

namespace palisade::tls {

using net::IoResult;
using net::IoStatus;
using net::Readiness;

namespace {

// BoringSSL reads a record as two exact asks (its 5-byte header, then the
// body) and has no read-ahead: two recv calls per record, and a third that
// finds the socket empty. The read BIO below asks the socket for up to
// kReadAheadBytes (two full records) at once, hands BoringSSL what it asked
// for and keeps the rest for its next ask; a body ask at least that large
// goes straight into BoringSSL's buffer. The copy it adds is cheaper than
// the system calls it saves, and the kept bytes are freed once handed over.
constexpr size_t kReadAheadBytes = 32 * 1024;
// Kept bytes up to this size keep their allocation between asks.
constexpr size_t kKeepCapacity = 4096;

char* ReadAheadScratch() {
  // Per thread, allocated at its first use (not in the TLS block, whose
  // image every thread makes resident at start).
  thread_local std::unique_ptr<char[]> scratch;
  if (scratch == nullptr) scratch.reset(new char[kReadAheadBytes]);
  return scratch.get();
}

int ReadAheadRead(BIO* bio, char* out, int length) {
  auto* state = static_cast<TlsTransport::ReadAhead*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (length <= 0) return 0;
  const size_t want = static_cast<size_t>(length);
  if (state->buffered() > 0) {
    const size_t n = std::min(want, state->buffered());
    std::memcpy(out, state->bytes.data() + state->offset, n);
    state->offset += n;
    if (state->buffered() == 0) {
      state->offset = 0;
      if (state->bytes.capacity() > kKeepCapacity) {
        std::string().swap(state->bytes);
      } else {
        state->bytes.clear();
      }
    }
    return static_cast<int>(n);
  }
  const bool direct = want >= kReadAheadBytes;
  char* const into = direct ? out : ReadAheadScratch();
  const size_t ask = direct ? want : kReadAheadBytes;
  ssize_t n;
  do {
    n = recv(state->fd, into, ask, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_read(bio);
    return -1;  // errno stays for SSL_ERROR_SYSCALL
  }
  if (n == 0) return 0;
  if (direct) return static_cast<int>(n);
  const size_t handed = std::min(want, static_cast<size_t>(n));
  std::memcpy(out, into, handed);
  state->bytes.assign(into + handed, static_cast<size_t>(n) - handed);
  state->offset = 0;
  return static_cast<int>(handed);
}

long ReadAheadCtrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

// BoringSSL hands its write BIO one record at a time and a socket BIO sends
// each at once: one send per 16 KB record. Write() instead seals up to
// kBatchRecords records into a thread's scratch (the write BIO below copies
// each one there) and sends them with one call; only what the socket does
// not take is copied into the connection's own batch_.unsent.
constexpr size_t kRecordPlaintext = 16384;  // BoringSSL's largest record
constexpr size_t kBatchRecords = 4;
// A record's header, tag and padding take far less than 256 bytes.
constexpr size_t kBatchBytes = kBatchRecords * (kRecordPlaintext + 256);

char* WriteBatchScratch() {
  thread_local std::unique_ptr<char[]> scratch;
  if (scratch == nullptr) scratch.reset(new char[kBatchBytes]);
  return scratch.get();
}

// One send (retried on EINTR); never SIGPIPE. -1 with errno on failure.
ssize_t SendSome(int fd, const char* data, size_t length) {
  ssize_t n;
  do {
    n = send(fd, data, length, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n;
}

void ConsumeUnsent(TlsTransport::WriteBatch* batch, size_t n) {
  batch->offset += n;
  if (batch->pending() > 0) return;
  batch->offset = 0;
  if (batch->unsent.capacity() > kKeepCapacity) {
    std::string().swap(batch->unsent);
  } else {
    batch->unsent.clear();
  }
}

// Sends batch->unsent until it is empty (true) or the socket refuses (false,
// errno set; EAGAIN when it is full).
bool SendUnsentBytes(TlsTransport::WriteBatch* batch) {
  while (batch->pending() > 0) {
    const ssize_t n = SendSome(batch->fd, batch->unsent.data() + batch->offset, batch->pending());
    if (n < 0) return false;
    ConsumeUnsent(batch, static_cast<size_t>(n));
  }
  return true;
}

int BatchWrite(BIO* bio, const char* in, int length) {
  auto* batch = static_cast<TlsTransport::WriteBatch*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (length <= 0) return 0;
  const size_t n = static_cast<size_t>(length);
  if (batch->pending() > 0) {
    // Behind sealed bytes the socket has not taken yet (an alert, say):
    // queued after them, and sent by the next flush or Write().
    batch->unsent.append(in, n);
    return length;
  }
  if (batch->collect != nullptr) {
    if (batch->capacity - batch->collected < n) {
      // Write() leaves room for a whole record, so this does not happen;
      // should it, BoringSSL keeps the record until the write is retried.
      BIO_set_retry_write(bio);
      return -1;
    }
    std::memcpy(batch->collect + batch->collected, in, n);
    batch->collected += n;
    return length;
  }
  // The handshake's flights and alerts: straight to the socket.
  const ssize_t sent = SendSome(batch->fd, in, n);
  if (sent < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_write(bio);
    return -1;  // errno stays for SSL_ERROR_SYSCALL
  }
  return static_cast<int>(sent);
}

long BatchCtrl(BIO* bio, int cmd, long, void*) {
  if (cmd != BIO_CTRL_FLUSH) return 0;
  auto* batch = static_cast<TlsTransport::WriteBatch*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  // While Write() collects, it sends the batch itself once it is sealed.
  if (batch->collect != nullptr) return 1;
  if (SendUnsentBytes(batch)) return 1;
  if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_write(bio);
  return -1;
}

// ERR_clear_error walks and frees all 16 slots of the thread's error queue
// (about 1,800 instructions, a fifth of a small record's whole cost through
// the pump); the queue is almost always empty already.
void ClearErrors() {
  if (ERR_peek_error() != 0) ERR_clear_error();
}

int ReadAheadCreate(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

const BIO_METHOD* BatchMethod() {
  static const BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "write-batch");
    BIO_meth_set_write(m, BatchWrite);
    BIO_meth_set_ctrl(m, BatchCtrl);
    BIO_meth_set_create(m, ReadAheadCreate);
    return m;
  }();
  return method;
}

const BIO_METHOD* ReadAheadMethod() {
  static const BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "read-ahead");
    BIO_meth_set_read(m, ReadAheadRead);
    BIO_meth_set_ctrl(m, ReadAheadCtrl);
    BIO_meth_set_create(m, ReadAheadCreate);
    return m;
  }();
  return method;
}

}  // namespace

TlsTransport::TlsTransport(net::UniqueFd fd, bssl::UniquePtr<SSL> ssl)
    : fd_(std::move(fd)), ssl_(std::move(ssl)) {
  read_ahead_.fd = fd_.get();
  batch_.fd = fd_.get();
  BIO* rbio = BIO_new(ReadAheadMethod());
  BIO* wbio = BIO_new(BatchMethod());
  if (rbio == nullptr || wbio == nullptr) {
    // Out of memory: the plain socket BIO for both, as before (Write() then
    // collects nothing, and each record goes out on its own).
    BIO_free(rbio);
    BIO_free(wbio);
    SSL_set_fd(ssl_.get(), fd_.get());
  } else {
    BIO_set_data(rbio, &read_ahead_);
    BIO_set_data(wbio, &batch_);
    SSL_set_bio(ssl_.get(), rbio, wbio);
  }
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
  ClearErrors();
  const int ret = SSL_read(ssl_.get(), buffer, static_cast<int>(std::min<size_t>(length, INT_MAX)));
  if (ret > 0) return {IoStatus::kOk, static_cast<size_t>(ret)};
  return Classify(ret, /*in_handshake=*/false);
}

IoResult TlsTransport::Write(const char* data, size_t length) {
  if (length == 0) return {IoStatus::kOk, 0};
  // Sealed bytes from an earlier call go first. If they hold records of
  // this data (its first committed_ bytes, as BoringSSL's own retry rule
  // has it), they are what this call reports.
  if (committed_ > 0 && length < committed_) {
    error_ = "tls_error";
    error_detail_ = "write retried with fewer bytes than its sealed records hold";
    return {IoStatus::kError, 0};
  }
  if (batch_.pending() > 0) {
    const IoResult r = SendUnsent();
    if (r.status != IoStatus::kOk) return r;
  }
  if (committed_ > 0) {
    const size_t n = committed_;
    committed_ = 0;
    return {IoStatus::kOk, n};
  }
  ClearErrors();
  char* const scratch = WriteBatchScratch();
  batch_.collect = scratch;
  batch_.collected = 0;
  batch_.capacity = kBatchBytes;
  const size_t record_room = kRecordPlaintext + SSL_max_seal_overhead(ssl_.get());
  size_t sealed = 0;
  IoResult failure;
  while (sealed < length && batch_.capacity - batch_.collected >= record_room) {
    const int ret = SSL_write(ssl_.get(), data + sealed,
                              static_cast<int>(std::min(length - sealed, kRecordPlaintext)));
    if (ret <= 0) {
      // Before send() below changes errno. After some records, the error
      // comes back on the next call, as when each record was one call.
      if (sealed == 0) failure = Classify(ret, /*in_handshake=*/false);
      break;
    }
    sealed += static_cast<size_t>(ret);
  }
  batch_.collect = nullptr;
  const size_t collected = batch_.collected;
  batch_.collected = 0;
  size_t sent = 0;
  int send_errno = 0;
  if (collected > 0) {
    const ssize_t n = SendSome(fd_.get(), scratch, collected);
    if (n >= 0) {
      sent = static_cast<size_t>(n);
    } else {
      send_errno = errno;
    }
    // What the socket did not take waits, in order, for the retry.
    if (sent < collected) batch_.unsent.assign(scratch + sent, collected - sent);
  }
  if (sealed == 0) return failure;
  if (sent == collected) return {IoStatus::kOk, sealed};
  if (send_errno != 0 && send_errno != EAGAIN && send_errno != EWOULDBLOCK) {
    error_ = net::SocketErrorReason(send_errno);
    error_detail_ = error_;
    return {IoStatus::kError, 0};
  }
  committed_ = sealed;
  return {IoStatus::kWouldBlock, 0, Readiness::kWrite};
}

IoResult TlsTransport::SendUnsent() {
  if (SendUnsentBytes(&batch_)) return {IoStatus::kOk, 0};
  if (errno == EAGAIN || errno == EWOULDBLOCK) return {IoStatus::kWouldBlock, 0, Readiness::kWrite};
  error_ = net::SocketErrorReason(errno);
  error_detail_ = error_;
  return {IoStatus::kError, 0};
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
  // Sealed bytes still waiting (close_notify among them) go before the FIN.
  if (batch_.pending() > 0) {
    const IoResult r = SendUnsent();
    if (r.status == IoStatus::kWouldBlock) return r;
    // kError: the peer is gone; the FIN below changes nothing for it.
  }
  // Then a TCP FIN, for peers that wait for EOF rather than close_notify.
  ::shutdown(fd_.get(), SHUT_WR);
  return {IoStatus::kOk, 0};
}

bool TlsTransport::HasUnreadData() const {
  // BoringSSL reads no further ahead than the record it decrypts; what the
  // read BIO took beyond that waits in read_ahead_; the rest is still in the
  // socket.
  return SSL_has_pending(ssl_.get()) || read_ahead_.buffered() > 0 ||
         net::UnreadBytes(fd_.get()) > 0;
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
