// The transport over a real socketpair: records arrive intact and in order
// however BoringSSL's asks and the socket's contents line up, what it read
// ahead of BoringSSL still counts as unread, and a write seals several
// records into one send without losing a byte when the socket is full.
#include "runtime/tls/tls_transport.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>

#include "runtime/net/sockets.h"
#include "runtime/tls/connection_hooks.h"
#include "tests/util/test_pki.h"
#include "tests/util/tls_test_support.h"

namespace palisade::tls {
namespace {

using testing::Credential;
using testing::TestPki;

class AcceptAny : public TlsConnectionHooks {
 public:
  ssl_verify_result_t VerifyPeer(SSL*, uint8_t*) override { return ssl_verify_ok; }
};

std::string Payload(size_t size, int seed) {
  std::string out(size, '\0');
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<char>((i * 131 + seed * 7) & 0xff);
  return out;
}

class TlsTransportTest : public ::testing::Test {
 protected:
  TlsTransportTest() : pki_(), leaf_(pki_.IssueLeaf("/ns/a/sa/server")) {
    auto [a, b] = testing::SocketPair();
    Connect(std::move(a), std::move(b));
  }

  void Connect(net::UniqueFd a, net::UniqueFd b) {
    server_ctx_ = testing::ServerContext(pki_, leaf_, PeerCertificates::kNotRequested);
    client_ctx_ = testing::ClientContext(pki_, nullptr);
    bssl::UniquePtr<SSL> server_ssl(SSL_new(server_ctx_.get()));
    bssl::UniquePtr<SSL> client_ssl(SSL_new(client_ctx_.get()));
    SSL_set_accept_state(server_ssl.get());
    SSL_set_connect_state(client_ssl.get());
    AttachHooks(server_ssl.get(), &any_);
    AttachHooks(client_ssl.get(), &any_);
    server_ = std::make_unique<TlsTransport>(std::move(a), std::move(server_ssl));
    client_ = std::make_unique<TlsTransport>(std::move(b), std::move(client_ssl));
  }

  // Reads from the server side until `size` bytes or it would block.
  std::string ReadAll(size_t size, size_t chunk) {
    std::string got;
    std::string buffer(chunk, '\0');
    for (int i = 0; i < 10000 && got.size() < size; ++i) {
      const net::IoResult r = server_->Read(buffer.data(), buffer.size());
      if (r.status != net::IoStatus::kOk) break;
      got.append(buffer.data(), r.bytes);
    }
    return got;
  }

  TestPki pki_;
  Credential leaf_;
  AcceptAny any_;
  bssl::UniquePtr<SSL_CTX> server_ctx_;
  bssl::UniquePtr<SSL_CTX> client_ctx_;
  std::unique_ptr<TlsTransport> server_;
  std::unique_ptr<TlsTransport> client_;
};

TEST_F(TlsTransportTest, RecordsReadAheadOfBoringSslStillCountAsUnread) {
  ASSERT_TRUE(testing::HandshakeBoth(*client_, *server_));
  // Three small records, all in the socket before the server reads.
  for (int i = 0; i < 3; ++i) {
    const std::string record = Payload(64, i);
    ASSERT_EQ(client_->Write(record.data(), record.size()).bytes, record.size());
  }
  std::string buffer(64, '\0');
  const net::IoResult first = server_->Read(buffer.data(), buffer.size());
  ASSERT_EQ(first.status, net::IoStatus::kOk);
  ASSERT_EQ(buffer.substr(0, first.bytes), Payload(64, 0));
  // One recv took all three records off the socket (it used to take the
  // first record alone, in two recv calls); the other two wait above it.
  EXPECT_EQ(net::UnreadBytes(server_->fd()), 0);
  EXPECT_TRUE(server_->HasUnreadData());
  EXPECT_EQ(ReadAll(128, 64), Payload(64, 1) + Payload(64, 2));
  EXPECT_FALSE(server_->HasUnreadData());
  EXPECT_EQ(server_->Read(buffer.data(), buffer.size()).status, net::IoStatus::kWouldBlock);
}

TEST_F(TlsTransportTest, EveryByteArrivesInOrderWhateverTheSizes) {
  ASSERT_TRUE(testing::HandshakeBoth(*client_, *server_));
  // Sizes around the read-ahead (32 KB) and record (16 KB) bounds, so asks
  // are served from kept bytes, straight from the socket, and both.
  std::string sent;
  std::string received;
  const size_t sizes[] = {1, 5, 6, 16384, 16385, 32768, 40000, 100, 70000, 3};
  int seed = 0;
  for (size_t size : sizes) {
    const std::string data = Payload(size, ++seed);
    size_t written = 0;
    for (int i = 0; i < 10000 && written < data.size(); ++i) {
      const net::IoResult w = client_->Write(data.data() + written, data.size() - written);
      if (w.status == net::IoStatus::kOk) written += w.bytes;
      received += ReadAll(data.size(), 20000);  // make room in the socket
    }
    ASSERT_EQ(written, data.size());
    sent += data;
  }
  received += ReadAll(sent.size() - received.size(), 20000);
  EXPECT_EQ(received.size(), sent.size());
  EXPECT_TRUE(received == sent);
  ASSERT_EQ(client_->ShutdownWrite().status, net::IoStatus::kOk);
  char byte;
  EXPECT_EQ(server_->Read(&byte, 1).status, net::IoStatus::kEof);
}

TEST_F(TlsTransportTest, OneWriteSealsSeveralRecordsIntoOneSend) {
  // SOCK_SEQPACKET keeps each send() one message, so the reader counts the
  // client's sends. The handshake's flights are each one small message.
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  Connect(net::UniqueFd(fds[0]), net::UniqueFd(fds[1]));
  ASSERT_TRUE(testing::HandshakeBoth(*client_, *server_));
  // 256 KB is 16 full records: before batching, one send per record.
  const std::string data = Payload(256 * 1024, 9);
  std::string message(512 * 1024, '\0');
  size_t written = 0, sends = 0, wire = 0;
  auto drain = [&] {
    for (ssize_t n; (n = recv(server_->fd(), message.data(), message.size(), 0)) > 0;) {
      ++sends;
      wire += static_cast<size_t>(n);
    }
  };
  for (int i = 0; i < 1000 && written < data.size(); ++i) {
    const net::IoResult w = client_->Write(data.data() + written, data.size() - written);
    ASSERT_NE(w.status, net::IoStatus::kError) << client_->error_detail();
    if (w.status == net::IoStatus::kOk) written += w.bytes;
    drain();
  }
  drain();
  ASSERT_EQ(written, data.size());
  ASSERT_GT(sends, 0u);
  EXPECT_GE(wire, data.size());
  // Four records (64 KB) per send: 4 sends, 6 allowed for a full socket.
  EXPECT_LE(sends, 6u) << wire / sends << " bytes per send";
}

TEST_F(TlsTransportTest, FullSocketKeepsSealedRecordsUntilTheWriteIsRetried) {
  // A small send buffer fills in the middle of a batch of records.
  const int small = 8192;
  ASSERT_EQ(setsockopt(client_->fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
  ASSERT_TRUE(testing::HandshakeBoth(*client_, *server_));
  const std::string data = Payload(200 * 1024, 3);
  std::string received;
  size_t written = 0;
  int would_block = 0;
  for (int i = 0; i < 10000 && written < data.size(); ++i) {
    const net::IoResult w = client_->Write(data.data() + written, data.size() - written);
    ASSERT_NE(w.status, net::IoStatus::kError) << client_->error_detail();
    if (w.status == net::IoStatus::kOk) {
      written += w.bytes;
    } else {
      ++would_block;
      // Retried with fewer bytes than the sealed records hold: refused.
      if (data.size() - written > 1) {
        EXPECT_EQ(client_->Write(data.data() + written, 1).status, net::IoStatus::kError);
      }
    }
    received += ReadAll(data.size(), 20000);
  }
  ASSERT_EQ(written, data.size());
  EXPECT_GT(would_block, 0);
  // Every sealed byte is on the wire before close_notify and the FIN.
  net::IoResult shut;
  for (int i = 0; i < 1000; ++i) {
    shut = client_->ShutdownWrite();
    if (shut.status != net::IoStatus::kWouldBlock) break;
    received += ReadAll(data.size(), 20000);
  }
  ASSERT_EQ(shut.status, net::IoStatus::kOk);
  received += ReadAll(data.size() - received.size(), 20000);
  EXPECT_EQ(received.size(), data.size());
  EXPECT_TRUE(received == data);
  char byte;
  EXPECT_EQ(server_->Read(&byte, 1).status, net::IoStatus::kEof);
}

}  // namespace
}  // namespace palisade::tls
