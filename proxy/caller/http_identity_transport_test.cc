#include "proxy/caller/http_identity_transport.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"
#include "runtime/net/plain_transport.h"
#include "runtime/net/unique_fd.h"

namespace palisade::caller {
namespace {

constexpr char kHeader[] = "x-forwarded-client-cert";
constexpr char kValue[] = "By=spiffe://td/app;Hash=ab;URI=spiffe://td/caller";
constexpr char kLine[] =
    "x-forwarded-client-cert: By=spiffe://td/app;Hash=ab;URI=spiffe://td/caller\r\n";

// A real socket pair: the test writes as the client, the transport reads.
class HttpIdentityTransportTest : public ::testing::Test {
 protected:
  void SetUp() override { Make(65536); }

  void Make(size_t max_header_bytes) {
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    client_ = net::UniqueFd(fds[1]);
    transport_ = std::make_unique<HttpIdentityTransport>(
        std::make_unique<net::PlainTransport>(net::UniqueFd(fds[0])), kHeader, kValue,
        max_header_bytes);
  }

  void Send(const std::string& bytes) {
    ASSERT_EQ(write(client_.get(), bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  }

  // Everything readable now; the last status in *status.
  std::string ReadAll(net::IoStatus* status = nullptr, size_t chunk = 4096) {
    std::string out;
    char buffer[65536];
    for (int i = 0; i < 100000; ++i) {
      const net::IoResult r = transport_->Read(buffer, chunk);
      if (r.status != net::IoStatus::kOk) {
        if (status != nullptr) *status = r.status;
        break;
      }
      out.append(buffer, r.bytes);
    }
    return out;
  }

  net::UniqueFd client_;
  std::unique_ptr<HttpIdentityTransport> transport_;
};

TEST_F(HttpIdentityTransportTest, AddsTheIdentityAndRemovesAClientsSpoofedHeader) {
  Send(
      "GET /a HTTP/1.1\r\nHost: app\r\nX-Forwarded-Client-Cert: URI=spiffe://td/admin\r\n"
      "Accept: */*\r\n\r\n");
  EXPECT_EQ(ReadAll(),
            std::string("GET /a HTTP/1.1\r\nHost: app\r\nAccept: */*\r\n") + kLine + "\r\n");
  EXPECT_EQ(transport_->requests(), 1u);
}

TEST_F(HttpIdentityTransportTest, EveryPipelinedRequestGetsTheHeaderAndBodiesPassAsSent) {
  const std::string chunked_body = "5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n";
  Send(
      "POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody"
      "POST /2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
      "x-forwarded-client-cert: spoof\r\n\r\n" +
      chunked_body + "GET /3 HTTP/1.0\r\n\r\n");
  const std::string expected =
      std::string("POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n") + kLine + "\r\nbody" +
      "POST /2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n" + kLine + "\r\n" +
      chunked_body + "GET /3 HTTP/1.0\r\n" + kLine + "\r\n";
  EXPECT_EQ(ReadAll(), expected);
  EXPECT_EQ(transport_->requests(), 3u);
}

TEST_F(HttpIdentityTransportTest, RequestsSplitAcrossReadsAtEveryByte) {
  const std::string input =
      "POST /x HTTP/1.1\r\nHost: a\r\nX-FORWARDED-CLIENT-CERT: s\r\nContent-Length: 3\r\n\r\nabc"
      "GET /y HTTP/1.1\r\nHost: a\r\n\r\n";
  const std::string expected = std::string("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n") +
                               kLine + "\r\nabcGET /y HTTP/1.1\r\nHost: a\r\n" + kLine + "\r\n";
  std::string out;
  for (char c : input) {
    Send(std::string(1, c));
    out += ReadAll(nullptr, 7);  // small reads: the rewritten head comes out in pieces
  }
  EXPECT_EQ(out, expected);
  EXPECT_EQ(transport_->requests(), 2u);
}

TEST_F(HttpIdentityTransportTest, RefusesBytesThatAreNotHttp) {
  Send("\x16\x03\x01\x02\x00 binary");
  net::IoStatus status;
  EXPECT_EQ(ReadAll(&status), "");
  EXPECT_EQ(status, net::IoStatus::kError);
  EXPECT_EQ(transport_->error(), "http_bad_request");
}

TEST_F(HttpIdentityTransportTest, RefusesTheHttp2PrefaceByName) {
  Send("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  net::IoStatus status;
  EXPECT_EQ(ReadAll(&status), "");
  EXPECT_EQ(status, net::IoStatus::kError);
  EXPECT_EQ(transport_->error(), "http2_refused");
}

TEST_F(HttpIdentityTransportTest, RefusesAHeaderBlockOverTheCap) {
  Make(1024);
  Send("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(2000, 'b') + "\r\n\r\n");
  net::IoStatus status;
  EXPECT_EQ(ReadAll(&status), "");
  EXPECT_EQ(status, net::IoStatus::kError);
  EXPECT_EQ(transport_->error(), "http_header_too_large");
}

TEST_F(HttpIdentityTransportTest, RefusesAnUpgradeWhoseBytesItCouldNotCheck) {
  Send("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  net::IoStatus status;
  EXPECT_EQ(ReadAll(&status), "");
  EXPECT_EQ(transport_->error(), "http_upgrade_refused");
}

TEST_F(HttpIdentityTransportTest, RefusesTheIdentityHeaderSentAsATrailer) {
  Send(
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "1\r\nx\r\n0\r\nx-forwarded-client-cert: URI=spiffe://td/admin\r\n\r\n");
  net::IoStatus status;
  ReadAll(&status);
  EXPECT_EQ(status, net::IoStatus::kError);
  EXPECT_EQ(transport_->error(), "http_identity_in_trailer");
}

TEST_F(HttpIdentityTransportTest, AnEndInsideARequestHeadIsNotAClean) {
  Send("GET / HTTP/1.1\r\nHo");
  client_.Reset();
  net::IoStatus status;
  EXPECT_EQ(ReadAll(&status), "");
  EXPECT_EQ(status, net::IoStatus::kError);
  EXPECT_EQ(transport_->error(), "http_incomplete_request");
}

TEST_F(HttpIdentityTransportTest, AnEndBetweenRequestsIsClean) {
  Send("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  client_.Reset();
  net::IoStatus status;
  EXPECT_EQ(ReadAll(&status), std::string("GET / HTTP/1.1\r\nHost: a\r\n") + kLine + "\r\n");
  EXPECT_EQ(status, net::IoStatus::kEof);
}

}  // namespace
}  // namespace palisade::caller
