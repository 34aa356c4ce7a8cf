// caller_identity http_header end to end, real processes on loopback:
//   client -> outbound proxy -> mTLS -> inbound proxy (http_header) -> HTTP app
// The app (echo_server --mode=http_headers) answers each request with the
// headers it received and its body's SHA-256: every request of a keep-alive
// connection and of a pipelined batch carries the identity, a client's own
// header of that name never arrives, bodies arrive intact, and what is not
// HTTP/1.x (HTTP/2's preface, garbage) is refused with its reason.
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/util/loopback.h"
#include "tests/util/mesh_fixture.h"
#include "tests/util/status_matchers.h"

namespace palisade::testing {
namespace {

constexpr char kFrontendId[] = "spiffe://cluster.local/ns/shop/sa/frontend";
constexpr char kBackendId[] = "spiffe://cluster.local/ns/shop/sa/backend";

std::string Sha256Hex(absl::string_view bytes) {
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

// SHA-256 of the first certificate's DER in a PEM file.
std::string LeafHash(const std::string& pem_path) {
  bssl::UniquePtr<BIO> bio(BIO_new_file(pem_path.c_str(), "r"));
  if (bio == nullptr) return "";
  bssl::UniquePtr<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) return "";
  uint8_t* der = nullptr;
  const int n = i2d_X509(cert.get(), &der);
  std::string hex = Sha256Hex(absl::string_view(reinterpret_cast<char*>(der), n));
  OPENSSL_free(der);
  return hex;
}

bool SendAll(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t w = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (w <= 0) return false;
    sent += w;
  }
  return true;
}

// Reads one HTTP response (Content-Length framed) and returns its body;
// nullopt when the connection ends or times out first. `pending` keeps what
// was read past it (pipelined answers).
std::optional<std::string> ReadResponse(int fd, std::string* pending) {
  for (int i = 0; i < 10000; ++i) {
    const size_t head_end = pending->find("\r\n\r\n");
    if (head_end != std::string::npos) {
      size_t length = 0;
      for (absl::string_view line : absl::StrSplit(pending->substr(0, head_end), "\r\n")) {
        if (absl::ConsumePrefix(&line, "Content-Length: ")) {
          if (!absl::SimpleAtoi(line, &length)) return std::nullopt;
        }
      }
      if (pending->size() >= head_end + 4 + length) {
        std::string body = pending->substr(head_end + 4, length);
        pending->erase(0, head_end + 4 + length);
        return body;
      }
    }
    char buffer[65536];
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) return std::nullopt;
    pending->append(buffer, n);
  }
  return std::nullopt;
}

// The lines of an app answer whose name is `name` (case-insensitive).
std::vector<std::string> HeaderLines(const std::string& body, const std::string& name) {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    if (absl::StartsWithIgnoreCase(line, name + ":")) lines.emplace_back(line);
  }
  return lines;
}

class CallerIdentityHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mesh_.WriteSvid("frontend", "/ns/shop/sa/frontend");
    mesh_.WriteSvid("backend", "/ns/shop/sa/backend");
    ASSERT_OK_AND_ASSIGN(app_, mesh_.StartBackend("app", "http_headers"));
    ProxyYaml in = mesh_.FileIdentityConfig("backend", kBackendId);
    ProxyYaml::Inbound& listener = in.AddInbound("in", app_->address());
    listener.authorization.spiffe_ids = {kFrontendId};
    listener.caller_identity.mode = "http_header";
    ASSERT_OK_AND_ASSIGN(inbound_, mesh_.StartReadyProxy("inbound", in));
    ASSERT_OK_AND_ASSIGN(const uint16_t inbound_port, inbound_->ListenerPort("in"));
    ProxyYaml out = mesh_.FileIdentityConfig("frontend", kFrontendId);
    out.AddOutbound("out", absl::StrCat("127.0.0.1:", inbound_port)).expected_peer.spiffe_id =
        kBackendId;
    ASSERT_OK_AND_ASSIGN(ProxyProcess * outbound, mesh_.StartReadyProxy("outbound", out));
    ASSERT_OK_AND_ASSIGN(port_, outbound->ListenerPort("out"));
    expected_ =
        absl::StrCat("x-forwarded-client-cert: By=", kBackendId,
                     ";Hash=", LeafHash(mesh_.dir() + "/frontend.pem"), ";URI=", kFrontendId);
  }

  // The identity line exactly once, no spoof, and the body as sent.
  void ExpectAnswer(const std::optional<std::string>& answer, const std::string& body) {
    ASSERT_TRUE(answer.has_value()) << mesh_.Logs();
    EXPECT_EQ(HeaderLines(*answer, "x-forwarded-client-cert"), std::vector<std::string>{expected_})
        << *answer;
    EXPECT_FALSE(absl::StrContains(*answer, "spiffe://cluster.local/ns/admin")) << *answer;
    EXPECT_TRUE(absl::StrContains(*answer, absl::StrCat("body-bytes: ", body.size(), "\n")))
        << *answer;
    EXPECT_TRUE(absl::StrContains(*answer, absl::StrCat("body-sha256: ", Sha256Hex(body))))
        << *answer;
  }

  MeshFixture mesh_;
  EchoBackend* app_ = nullptr;
  ProxyProcess* inbound_ = nullptr;
  uint16_t port_ = 0;
  std::string expected_;
};

constexpr char kSpoof[] =
    "X-Forwarded-Client-Cert: URI=spiffe://cluster.local/ns/admin/sa/root\r\n";

TEST_F(CallerIdentityHttpTest, EveryRequestOfAKeepAliveConnectionCarriesTheCallersIdentity) {
  const int fd = ConnectLoopback(port_, absl::Seconds(10));
  ASSERT_GE(fd, 0);
  std::string pending;
  for (int i = 0; i < 5; ++i) {
    const std::string body = std::string(64, static_cast<char>('a' + i));
    ASSERT_TRUE(SendAll(fd, absl::StrCat("POST /k", i, " HTTP/1.1\r\nHost: app\r\n", kSpoof,
                                         "Content-Length: ", body.size(), "\r\n\r\n", body)));
    ExpectAnswer(ReadResponse(fd, &pending), body);
  }
  close(fd);
}

TEST_F(CallerIdentityHttpTest, EveryRequestOfAPipelinedBatchCarriesItAndBodiesArriveIntact) {
  std::mt19937 random(17);
  std::string batch;
  std::vector<std::string> bodies;
  for (int i = 0; i < 24; ++i) {
    std::string body(i % 3 == 0 ? 0 : 1000 + random() % 40000, '\0');
    for (char& c : body) c = static_cast<char>(random());
    bodies.push_back(body);
    const std::string spoof = i % 2 == 0 ? kSpoof : "x-forwarded-client-cert: By=evil\r\n";
    if (i % 3 == 0) {
      absl::StrAppend(&batch, "GET /p", i, " HTTP/1.1\r\nHost: app\r\n", spoof, "\r\n");
    } else if (i % 3 == 1) {
      absl::StrAppend(&batch, "POST /p", i, " HTTP/1.1\r\nHost: app\r\n", spoof,
                      "Content-Length: ", body.size(), "\r\n\r\n", body);
    } else {  // chunked, in pieces of uneven size
      absl::StrAppend(&batch, "PUT /p", i, " HTTP/1.1\r\nHost: app\r\n", spoof,
                      "Transfer-Encoding: chunked\r\n\r\n");
      for (size_t at = 0; at < body.size();) {
        const size_t n = std::min<size_t>(body.size() - at, 1 + random() % 5000);
        absl::StrAppend(&batch, absl::Hex(n), "\r\n", body.substr(at, n), "\r\n");
        at += n;
      }
      absl::StrAppend(&batch, "0\r\n\r\n");
    }
  }
  const int fd = ConnectLoopback(port_, absl::Seconds(10));
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, batch));  // all at once: the requests arrive pipelined
  std::string pending;
  for (const std::string& body : bodies) ExpectAnswer(ReadResponse(fd, &pending), body);
  close(fd);
}

// A connection whose first bytes cannot be parsed is closed with no answer
// and its reason in the access log; nothing unparsed reaches the app.
void ExpectRefused(MeshFixture& mesh, ProxyProcess* inbound, uint16_t port,
                   const std::string& bytes, const std::string& reason) {
  const int fd = ConnectLoopback(port, absl::Seconds(10));
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, bytes));
  std::string pending;
  EXPECT_EQ(ReadResponse(fd, &pending), std::nullopt);
  EXPECT_EQ(pending, "");
  close(fd);
  EXPECT_TRUE(inbound->WaitForLog(reason)) << mesh.Logs();
}

TEST_F(CallerIdentityHttpTest, RefusesHttp2ByName) {
  ExpectRefused(mesh_, inbound_, port_, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
                "downstream_http2_refused");
}

TEST_F(CallerIdentityHttpTest, RefusesBytesThatAreNotHttp) {
  ExpectRefused(mesh_, inbound_, port_, "\x01\x02 hello, not http\r\n\r\n",
                "downstream_http_bad_request");
  EXPECT_TRUE(inbound_->WaitForMetricSum("palisade_connection_errors_total",
                                         {{"reason", "http_refused"}, {"side", "downstream"}}, 1));
}

}  // namespace
}  // namespace palisade::testing
