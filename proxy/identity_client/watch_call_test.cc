#include "proxy/identity_client/watch_call.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>

#include "identity/certificate.h"
#include "identity/csr.h"
#include "identity/keys.h"
#include "proxy/identity_client/testing/fake_identity_service.h"
#include "proxy/identity_client/testing/test_tls_server.h"
#include "runtime/net/socket_address.h"
#include "runtime/net/sockets.h"
#include "tests/util/status_matchers.h"
#include "tests/util/test_pki.h"

namespace palisade::identity_client {
namespace {

using ::palisade::testing::Credential;
using ::palisade::testing::IsOk;
using ::palisade::testing::StatusIs;
using ::palisade::testing::TestPki;
using testing::FakeIdentityService;
using testing::TestTlsServer;

constexpr char kServerId[] = "spiffe://cluster.local/palisade/control";
constexpr char kWorkloadId[] = "spiffe://cluster.local/ns/shop/sa/cart";

class WatchCallTest : public ::testing::Test {
 protected:
  WatchCallTest() : pki_(PkiOptions()) {
    control::v1::TrustBundleUpdate bundle;
    bundle.set_version(1);
    bundle.add_trust_domains()->set_trust_domain("cluster.local");
    bundle.mutable_trust_domains(0)->add_root_certificates_der(
        identity::CertificateToDer(pki_.root().x509()));
    fake_ = std::make_unique<FakeIdentityService>(
        FakeIdentityService::Issuer{pki_.intermediate().x509(),
                                    pki_.intermediate().key.get(),
                                    {pki_.intermediate().x509()}},
        bundle);
    fake_->AcceptJoinToken("tok", kWorkloadId);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &grpc_port_);
    builder.RegisterService(fake_.get());
    grpc_server_ = builder.BuildAndStart();
    control_leaf_ = pki_.IssueLeaf("/palisade/control");
    TestTlsServer::Options options;
    options.chain = pki_.Chain(control_leaf_);
    options.key = control_leaf_.key.get();
    options.backend = "127.0.0.1:" + std::to_string(grpc_port_);
    front_ = std::move(TestTlsServer::Start(std::move(options))).value();
    fake_->set_front(front_.get());
  }
  ~WatchCallTest() override {
    grpc_server_->Shutdown(std::chrono::system_clock::now());
    grpc_server_.reset();
    fake_->set_front(nullptr);
  }

  static TestPki::Options PkiOptions() {
    TestPki::Options options;
    options.trust_domain = "cluster.local";
    return options;
  }

  SecureChannelOptions Options(const std::string& address = "") {
    SecureChannelOptions options;
    options.address = address.empty() ? front_->address() : address;
    options.server_spiffe_id = kServerId;
    identity::TrustBundleSet::Builder builder;
    EXPECT_THAT(builder.Add("cluster.local", pki_.root().x509()), IsOk());
    options.bundles = builder.Build();
    return options;
  }

  std::unique_ptr<WatchCall> OpenCall() {
    auto call = WatchCall::Start(Options());
    EXPECT_THAT(call, IsOk());
    EXPECT_THAT((*call)->WaitOpen(), IsOk());
    return *std::move(call);
  }

  static control::v1::WatchRequest Hello() {
    control::v1::WatchRequest request;
    request.mutable_hello()->set_join_token("tok");
    return request;
  }

  TestPki pki_;
  Credential control_leaf_;
  std::unique_ptr<FakeIdentityService> fake_;
  int grpc_port_ = 0;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<TestTlsServer> front_;
};

TEST_F(WatchCallTest, CarriesMessagesBothWays) {
  std::unique_ptr<WatchCall> call = OpenCall();
  EXPECT_EQ(call->server()->spiffe_id.ToString(), kServerId);
  ASSERT_TRUE(call->Write(Hello()));
  control::v1::WatchResponse response;
  ASSERT_EQ(call->WaitNext(absl::Seconds(10), &response), WatchCall::Next::kMessage);
  EXPECT_EQ(response.bundle().version(), 1u);
}

TEST_F(WatchCallTest, TimesOutAWaitWhenNothingArrives) {
  std::unique_ptr<WatchCall> call = OpenCall();
  control::v1::WatchResponse response;
  EXPECT_EQ(call->WaitNext(absl::Milliseconds(50), &response), WatchCall::Next::kTimeout);
}

TEST_F(WatchCallTest, ReportsThatTheServerEndedTheStreamAndHow) {
  std::unique_ptr<WatchCall> call = OpenCall();
  ASSERT_TRUE(call->Write(Hello()));
  auto key = identity::GenerateP256Key();
  ASSERT_THAT(key, IsOk());
  control::v1::WatchRequest csr;
  csr.mutable_csr()->set_csr_der(
      *identity::CreateCsrDer(key->get(), *identity::SpiffeId::Parse(kWorkloadId)));
  csr.mutable_csr()->set_request_id(1);
  ASSERT_TRUE(call->Write(csr));
  control::v1::WatchResponse response;
  ASSERT_EQ(call->WaitNext(absl::Seconds(10), &response), WatchCall::Next::kMessage);  // bundle
  ASSERT_EQ(call->WaitNext(absl::Seconds(10), &response), WatchCall::Next::kMessage);
  EXPECT_EQ(response.svid().request_id(), 1u);
  // A bootstrap stream ends after its one SVID.
  ASSERT_EQ(call->WaitNext(absl::Seconds(10), &response), WatchCall::Next::kEnded);
  const WatchCall::Outcome outcome = call->Finish();
  EXPECT_TRUE(outcome.server_ended);
  EXPECT_TRUE(outcome.status.ok()) << outcome.status.error_message();
}

TEST_F(WatchCallTest, CancelFromAnotherThreadEndsAWait) {
  std::unique_ptr<WatchCall> call = OpenCall();
  std::thread canceller([&] { call->Cancel(); });
  control::v1::WatchResponse response;
  EXPECT_EQ(call->WaitNext(absl::Seconds(30), &response), WatchCall::Next::kEnded);
  canceller.join();
  const WatchCall::Outcome outcome = call->Finish();
  EXPECT_FALSE(outcome.server_ended);
  EXPECT_FALSE(outcome.status.ok());
}

TEST_F(WatchCallTest, CancelAbortsAConnectInProgress) {
  auto silent = net::BindListener(*net::SocketAddress::Parse("127.0.0.1:0"), false);
  ASSERT_THAT(silent, IsOk());
  auto call = WatchCall::Start(Options(net::LocalAddressOf(silent->get())->ToString()));
  ASSERT_THAT(call, IsOk());
  std::thread canceller([&] { (*call)->Cancel(); });
  EXPECT_THAT((*call)->WaitOpen(), StatusIs(absl::StatusCode::kCancelled));
  canceller.join();
}

TEST_F(WatchCallTest, NamesWhyItCannotOpen) {
  auto closed = net::BindListener(*net::SocketAddress::Parse("127.0.0.1:0"), false);
  const std::string address = net::LocalAddressOf(closed->get())->ToString();
  closed->Reset();
  auto call = WatchCall::Start(Options(address));
  ASSERT_THAT(call, IsOk());
  EXPECT_THAT((*call)->WaitOpen(),
              StatusIs(absl::StatusCode::kUnavailable, ::testing::HasSubstr("connection_refused")));
}

}  // namespace
}  // namespace palisade::identity_client
