#include "proxy/identity_client/secure_channel.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <memory>
#include <string>

#include "proto/palisade/control/v1/control.grpc.pb.h"
#include "proxy/identity_client/testing/test_tls_server.h"
#include "runtime/net/socket_address.h"
#include "runtime/net/sockets.h"
#include "tests/util/process.h"
#include "tests/util/status_matchers.h"
#include "tests/util/test_pki.h"

namespace palisade::identity_client {
namespace {

using control::v1::IdentityService;
using control::v1::WatchRequest;
using control::v1::WatchResponse;
using ::palisade::testing::Credential;
using ::palisade::testing::IsOk;
using ::palisade::testing::StatusIs;
using ::palisade::testing::TestPki;
using ::palisade::testing::WaitFor;
using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using testing::TestTlsServer;

constexpr char kServerId[] = "spiffe://cluster.local/palisade/control";
constexpr char kClientId[] = "spiffe://cluster.local/ns/shop/sa/cart";

// Answers each Hello with a bundle whose one trust domain reads
// "<instance name>|<client SPIFFE ID the TLS front verified>", so a test can
// tell that bytes crossed both ways and which identity the server saw.
class ProbeService final : public IdentityService::Service {
 public:
  TestTlsServer* front = nullptr;

  grpc::Status Watch(grpc::ServerContext* context,
                     grpc::ServerReaderWriter<WatchResponse, WatchRequest>* stream) override {
    WatchRequest request;
    while (stream->Read(&request)) {
      WatchResponse response;
      response.mutable_bundle()->add_trust_domains()->set_trust_domain(
          request.hello().instance_name() + "|" +
          front->ClientIdOfGrpcPeer(context->peer()).value_or("unknown peer"));
      stream->Write(response);
    }
    return grpc::Status::OK;
  }
};

class SecureChannelTest : public ::testing::Test {
 protected:
  SecureChannelTest() : pki_(PkiOptions()) {
    identity::TrustBundleSet::Builder builder;
    EXPECT_TRUE(builder.Add(pki_.trust_domain(), pki_.root().x509()).ok());
    bundles_ = builder.Build();
    grpc::ServerBuilder server_builder;
    server_builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &grpc_port_);
    server_builder.RegisterService(&service_);
    grpc_server_ = server_builder.BuildAndStart();
  }
  ~SecureChannelTest() override {
    grpc_server_->Shutdown(std::chrono::system_clock::now());
    front_.reset();
  }

  static TestPki::Options PkiOptions() {
    TestPki::Options options;
    options.trust_domain = "cluster.local";
    return options;
  }

  // Starts the TLS front presenting `server_leaf` (issued by `issuer_pki`).
  void StartFront(const Credential& server_leaf, const TestPki& issuer_pki,
                  TestTlsServer::ClientCerts client_certs = TestTlsServer::ClientCerts::kOptional,
                  uint16_t max_tls_version = TLS1_3_VERSION) {
    TestTlsServer::Options options;
    options.chain = issuer_pki.Chain(server_leaf);
    options.key = server_leaf.key.get();
    options.client_certs = client_certs;
    options.client_bundles = bundles_;
    options.backend = "127.0.0.1:" + std::to_string(grpc_port_);
    options.max_tls_version = max_tls_version;
    auto front = TestTlsServer::Start(std::move(options));
    ASSERT_TRUE(front.ok()) << front.status();
    front_ = *std::move(front);
    service_.front = front_.get();
  }
  void StartFront(TestTlsServer::ClientCerts client_certs = TestTlsServer::ClientCerts::kOptional,
                  uint16_t max_tls_version = TLS1_3_VERSION) {
    server_leaf_ = pki_.IssueLeaf("/palisade/control");
    StartFront(server_leaf_, pki_, client_certs, max_tls_version);
  }

  SecureChannelOptions Options() const {
    SecureChannelOptions options;
    options.address = front_ != nullptr ? front_->address() : "127.0.0.1:1";
    options.server_spiffe_id = kServerId;
    options.bundles = bundles_;
    return options;
  }
  SecureChannelOptions OptionsWithClientSvid() {
    client_leaf_ = pki_.IssueLeaf("/ns/shop/sa/cart");
    SecureChannelOptions options = Options();
    for (X509* cert : pki_.Chain(client_leaf_)) options.client_chain.push_back(bssl::UpRef(cert));
    options.client_key = bssl::UpRef(client_leaf_.key);
    return options;
  }

  // One Hello and its answer on a Watch stream: the probe's trust domain.
  static absl::StatusOr<std::string> Exchange(const std::shared_ptr<grpc::Channel>& channel) {
    auto stub = IdentityService::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto stream = stub->Watch(&context);
    WatchRequest hello;
    hello.mutable_hello()->set_instance_name("probe");
    WatchResponse response;
    if (!stream->Write(hello) || !stream->Read(&response)) {
      const grpc::Status status = stream->Finish();
      return absl::UnavailableError("stream failed: " + status.error_message());
    }
    stream->WritesDone();
    const grpc::Status status = stream->Finish();
    if (!status.ok()) return absl::UnavailableError(status.error_message());
    return response.bundle().trust_domains(0).trust_domain();
  }

  // A loopback port nothing listens on.
  static uint16_t ClosedPort() {
    auto fd = net::BindListener(*net::SocketAddress::Parse("127.0.0.1:0"), false);
    return net::LocalAddressOf(fd->get())->port();
  }

  TestPki pki_;
  identity::TrustBundleSet bundles_;
  Credential server_leaf_;
  Credential client_leaf_;
  ProbeService service_;
  int grpc_port_ = 0;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<TestTlsServer> front_;
};

TEST_F(SecureChannelTest, CarriesAGrpcStreamToAServerWithTheExpectedIdentity) {
  StartFront();
  auto channel = SecureChannel::Connect(Options());
  ASSERT_THAT(channel, IsOk());
  ASSERT_TRUE((*channel)->server().has_value());
  EXPECT_EQ((*channel)->server()->spiffe_id.ToString(), kServerId);
  EXPECT_EQ(Exchange((*channel)->channel()).value_or("failed"), "probe|");
  EXPECT_THAT((*channel)->transport_status(), IsOk());
}

TEST_F(SecureChannelTest, PresentsTheClientSvidWhenGivenOne) {
  StartFront(TestTlsServer::ClientCerts::kRequired);
  auto channel = SecureChannel::Connect(OptionsWithClientSvid());
  ASSERT_THAT(channel, IsOk());
  EXPECT_EQ(Exchange((*channel)->channel()).value_or("failed"), std::string("probe|") + kClientId);
}

TEST_F(SecureChannelTest, ResolvesHostNames) {
  StartFront();
  SecureChannelOptions options = Options();
  options.address = "localhost:" + std::to_string(front_->port());
  auto channel = SecureChannel::Connect(std::move(options));
  ASSERT_THAT(channel, IsOk());
  EXPECT_EQ(Exchange((*channel)->channel()).value_or("failed"), "probe|");
}

TEST_F(SecureChannelTest, RefusesAServerThatPresentsAnotherSpiffeId) {
  StartFront(pki_.IssueLeaf("/ns/shop/sa/impostor"), pki_);
  EXPECT_THAT(SecureChannel::Connect(Options()),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       AllOf(HasSubstr("wrong server identity"),
                             HasSubstr("presented spiffe://cluster.local/ns/shop/sa/impostor"),
                             HasSubstr(std::string("expected ") + kServerId))));
}

TEST_F(SecureChannelTest, RefusesAServerItsBundleDoesNotTrust) {
  TestPki stranger(PkiOptions());
  StartFront(stranger.IssueLeaf("/palisade/control"), stranger);
  EXPECT_THAT(SecureChannel::Connect(Options()),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       AllOf(HasSubstr("untrusted_chain"), HasSubstr(front_->address()))));
}

TEST_F(SecureChannelTest, JudgesTheServerCertificateByTheInjectedClock) {
  StartFront();
  SecureChannelOptions options = Options();
  options.clock = [] { return absl::Now() + absl::Hours(3); };  // past the leaf's notAfter
  EXPECT_THAT(SecureChannel::Connect(std::move(options)),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("expired")));
}

TEST_F(SecureChannelTest, NamesTheRefusalOfAServerThatRequiresAClientCertificateOverTls13) {
  StartFront(TestTlsServer::ClientCerts::kRequired);
  // In TLS 1.3 the server's verdict on our (absent) certificate comes after
  // our side of the handshake: the channel is made, its first RPC fails.
  auto channel = SecureChannel::Connect(Options());
  ASSERT_THAT(channel, IsOk());
  EXPECT_THAT(Exchange((*channel)->channel()), StatusIs(absl::StatusCode::kUnavailable));
  ASSERT_TRUE(WaitFor([&] { return !(*channel)->transport_status().ok(); }, absl::Seconds(10)));
  EXPECT_THAT((*channel)->transport_status(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("peer_rejected_certificate")));
}

TEST_F(SecureChannelTest, NamesTheRefusalOfAServerThatRequiresAClientCertificateOverTls12) {
  StartFront(TestTlsServer::ClientCerts::kRequired, TLS1_2_VERSION);
  EXPECT_THAT(
      SecureChannel::Connect(Options()),
      StatusIs(absl::StatusCode::kUnavailable,
               AllOf(HasSubstr("TLS handshake"), AnyOf(HasSubstr("peer_handshake_failure"),
                                                       HasSubstr("peer_rejected_certificate")))));
}

TEST_F(SecureChannelTest, NamesARefusedConnection) {
  SecureChannelOptions options = Options();
  options.address = "127.0.0.1:" + std::to_string(ClosedPort());
  EXPECT_THAT(SecureChannel::Connect(std::move(options)),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("connection_refused"), HasSubstr("cannot connect"))));
}

TEST_F(SecureChannelTest, GivesUpOnAHandshakeThatNeverAnswers) {
  // Listening but never accepting: TCP connects, TLS gets no answer.
  auto silent = net::BindListener(*net::SocketAddress::Parse("127.0.0.1:0"), false);
  ASSERT_THAT(silent, IsOk());
  SecureChannelOptions options = Options();
  options.address = net::LocalAddressOf(silent->get())->ToString();
  options.handshake_timeout = absl::Milliseconds(200);
  EXPECT_THAT(SecureChannel::Connect(std::move(options)),
              StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("did not finish within")));
}

TEST_F(SecureChannelTest, CloseCancelsAConnectInProgress) {
  auto silent = net::BindListener(*net::SocketAddress::Parse("127.0.0.1:0"), false);
  ASSERT_THAT(silent, IsOk());
  SecureChannelOptions options = Options();
  options.address = net::LocalAddressOf(silent->get())->ToString();
  auto channel = SecureChannel::Start(std::move(options));
  ASSERT_THAT(channel, IsOk());
  (*channel)->Close();
  EXPECT_THAT((*channel)->WaitConnected(), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_EQ((*channel)->channel(), nullptr);
}

TEST_F(SecureChannelTest, CloseEndsTheStreamAndTheServerSeesTheConnectionGo) {
  StartFront();
  auto channel = SecureChannel::Connect(Options());
  ASSERT_THAT(channel, IsOk());
  std::shared_ptr<grpc::Channel> grpc_channel = (*channel)->channel();
  auto stub = IdentityService::NewStub(grpc_channel);
  grpc::ClientContext context;
  auto stream = stub->Watch(&context);
  WatchRequest hello;
  hello.mutable_hello()->set_instance_name("probe");
  WatchResponse response;
  ASSERT_TRUE(stream->Write(hello) && stream->Read(&response));
  EXPECT_EQ(front_->live_connections(), 1);

  (*channel)->Close();
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT((*channel)->transport_status(), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_TRUE(WaitFor([&] { return front_->live_connections() == 0; }, absl::Seconds(10)));
}

TEST_F(SecureChannelTest, AServerThatGoesAwayEndsTheChannel) {
  StartFront();
  auto channel = SecureChannel::Connect(Options());
  ASSERT_THAT(channel, IsOk());
  auto stub = IdentityService::NewStub((*channel)->channel());
  grpc::ClientContext context;
  auto stream = stub->Watch(&context);
  WatchRequest hello;
  hello.mutable_hello()->set_instance_name("probe");
  WatchResponse response;
  ASSERT_TRUE(stream->Write(hello) && stream->Read(&response));

  front_->SetRefusing(true);  // drops every live connection
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  ASSERT_TRUE(WaitFor([&] { return !(*channel)->transport_status().ok(); }, absl::Seconds(10)));
  EXPECT_THAT((*channel)->transport_status(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr(front_->address())));
}

}  // namespace
}  // namespace palisade::identity_client
