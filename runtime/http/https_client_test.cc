#include "runtime/http/https_client.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/files/files.h"
#include "runtime/net/sockets.h"
#include "tests/util/fake_issuer.h"
#include "tests/util/process.h"
#include "tests/util/status_matchers.h"

namespace palisade::http {
namespace {

using ::palisade::testing::FakeIssuer;
using ::palisade::testing::StatusIs;
using ::testing::HasSubstr;

class HttpsClientTest : public ::testing::Test {
 protected:
  HttpsClientTest()
      : dir_(palisade::testing::MakeTempDir("https_client")), issuer_(dir_, R"({"keys": []})") {}

  std::unique_ptr<HttpsClient> Client(HttpsClient::Options options = {}) {
    absl::StatusOr<verify::ServerRoots> roots =
        verify::ServerRoots::FromPem(*files::ReadSmallFile(issuer_.ca_file(), "ca"));
    EXPECT_TRUE(roots.ok()) << roots.status();
    auto client = HttpsClient::Create(
        std::make_shared<const verify::ServerRoots>(*std::move(roots)), options);
    EXPECT_TRUE(client.ok()) << client.status();
    return *std::move(client);
  }
  absl::StatusOr<HttpsResponse> Get(const HttpsClient& client, const std::string& path) {
    HttpsRequest request;
    request.url = issuer_.issuer() + path;
    request.headers = {{"Authorization", "Bearer t0ken"}};
    return client.Fetch(request);
  }

  std::string dir_;
  FakeIssuer issuer_;
};

TEST_F(HttpsClientTest, FetchesOverTlsVerifiedByTheCaFileAndTheHostName) {
  absl::StatusOr<HttpsResponse> response = Get(*Client(), FakeIssuer::kDiscoveryPath);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_THAT(response->body, HasSubstr(issuer_.issuer()));
  EXPECT_EQ(issuer_.authorizations(), std::vector<std::string>{"Bearer t0ken"});

  issuer_.SetJwks(500, "oops");
  response = Get(*Client(), FakeIssuer::kJwksPath);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 500);
  EXPECT_EQ(response->body, "oops");
}

TEST_F(HttpsClientTest, RefusesAServerFromAnotherCaOrForAnotherName) {
  issuer_.ServeCertificate("localhost", /*trusted=*/false);
  EXPECT_THAT(Get(*Client(), FakeIssuer::kJwksPath),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("does not verify")));
  issuer_.ServeCertificate("kubernetes.default.svc", /*trusted=*/true);
  EXPECT_THAT(Get(*Client(), FakeIssuer::kJwksPath),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("does not verify")));
  EXPECT_EQ(issuer_.jwks_requests(), 0);  // no request (nor token) went out
  EXPECT_TRUE(issuer_.authorizations().empty());
}

// With expected_spiffe_id the host name no longer vouches for the server: a
// trusted certificate for the right host without that SPIFFE ID is refused.
TEST_F(HttpsClientTest, WithAnExpectedSpiffeIdRefusesAServerThatIsNotThatSvid) {
  HttpsClient::Options options;
  options.expected_spiffe_id = "spiffe://example.org/palisade/control";
  EXPECT_THAT(Get(*Client(options), FakeIssuer::kJwksPath),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("server certificate of spiffe://example.org/palisade/control "
                                 "does not verify")));
  EXPECT_EQ(issuer_.jwks_requests(), 0);
  EXPECT_TRUE(Get(*Client(), FakeIssuer::kJwksPath).ok());  // the same server, by host name
}

TEST_F(HttpsClientTest, CapsTheResponseBody) {
  issuer_.SetJwks(200, std::string(4096, 'x'));
  EXPECT_THAT(Get(*Client({.max_response_bytes = 1024}), FakeIssuer::kJwksPath),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("larger than 1024")));
}

TEST_F(HttpsClientTest, TimesOutOnAServerThatNeverAnswers) {
  // Accepts TCP (the kernel does) but never speaks TLS.
  absl::StatusOr<net::UniqueFd> silent =
      net::BindListener(*net::SocketAddress::Parse("127.0.0.1:0"), false, 4);
  ASSERT_TRUE(silent.ok());
  const uint16_t port = net::LocalAddressOf(silent->get())->port();
  HttpsRequest request;
  request.url = absl::StrCat("https://localhost:", port, "/");
  const absl::Time start = absl::Now();
  EXPECT_THAT(Client({.timeout = absl::Milliseconds(300)})->Fetch(request),
              StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("timed out")));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST_F(HttpsClientTest, RefusesPlainHttpAndReportsARefusedConnection) {
  HttpsRequest request;
  request.url = "http://localhost/";
  EXPECT_THAT(Client()->Fetch(request),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("only https")));
  absl::StatusOr<net::UniqueFd> closed =
      net::BindListener(*net::SocketAddress::Parse("127.0.0.1:0"), false, 1);
  ASSERT_TRUE(closed.ok());
  const uint16_t port = net::LocalAddressOf(closed->get())->port();
  closed->Reset();
  request.url = absl::StrCat("https://127.0.0.1:", port, "/");
  EXPECT_THAT(Client()->Fetch(request), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("")));
}

}  // namespace
}  // namespace palisade::http
