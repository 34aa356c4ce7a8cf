// A Transport through a BoringSSL connection on a non-blocking socket, plus
// the handshake that comes before it can carry bytes.
#ifndef PALISADE_RUNTIME_TLS_TLS_TRANSPORT_H_
#define PALISADE_RUNTIME_TLS_TLS_TRANSPORT_H_

#include <openssl/ssl.h>

#include <string>

#include "runtime/net/transport.h"
#include "runtime/net/unique_fd.h"

namespace palisade::tls {

// error() of a peer that closed TCP before the handshake finished.
inline constexpr char kPeerClosedReason[] = "peer_closed";

class TlsTransport final : public net::Transport {
 public:
  // `ssl` is already in accept or connect state; it is bound to `fd` here.
  TlsTransport(net::UniqueFd fd, bssl::UniquePtr<SSL> ssl);
  ~TlsTransport() override;

  // kOk once the handshake is complete; kError with error() set to a reason
  // code (see tls_error.h) when it failed.
  net::IoResult Handshake();

  int fd() const override { return fd_.get(); }
  net::IoResult Read(char* buffer, size_t length) override;
  net::IoResult Write(const char* data, size_t length) override;
  net::IoResult ShutdownWrite() override;
  bool HasUnreadData() const override;
  void ResetOnClose() override;
  const std::string& error() const override { return error_; }
  // The peer closed TCP without close_notify (possible truncation). Read()
  // reports it as the end of stream from a client, as the error "truncated"
  // from a server.
  bool truncated() const { return truncated_; }
  // Human-readable detail of the last error (BoringSSL's error queue).
  const std::string& error_detail() const { return error_detail_; }

  SSL* ssl() const { return ssl_.get(); }

  // What the read BIO has taken from the socket beyond what BoringSSL asked
  // for yet (see tls_transport.cc). Public for the BIO's callbacks only.
  struct ReadAhead {
    int fd = -1;
    std::string bytes;  // empty, and holding no memory, while idle
    size_t offset = 0;  // bytes before it were handed to BoringSSL
    size_t buffered() const { return bytes.size() - offset; }
  };
  // Where the write BIO puts sealed records (see tls_transport.cc). Public
  // for the BIO's callbacks only.
  struct WriteBatch {
    int fd = -1;
    char* collect = nullptr;  // a thread's scratch while Write() seals records
    size_t collected = 0;
    size_t capacity = 0;
    // Sealed bytes the socket did not take yet: sent before anything else.
    std::string unsent;  // empty, and holding no memory, while idle
    size_t offset = 0;
    size_t pending() const { return unsent.size() - offset; }
  };

 private:
  net::IoResult Classify(int ret, bool in_handshake);
  // Sends what waits in batch_.unsent: kOk once all of it is on the wire.
  net::IoResult SendUnsent();

  net::UniqueFd fd_;
  bssl::UniquePtr<SSL> ssl_;
  std::string error_;
  std::string error_detail_;
  bool truncated_ = false;
  bool close_notify_sent_ = false;
  ReadAhead read_ahead_;  // before ssl_ in destruction order: ssl_ is freed first
  WriteBatch batch_;
  // Plaintext bytes sealed into batch_.unsent and not yet reported written:
  // the first bytes of the retried Write().
  size_t committed_ = 0;
};

}  // namespace palisade::tls

#endif  // PALISADE_RUNTIME_TLS_TLS_TRANSPORT_H_
