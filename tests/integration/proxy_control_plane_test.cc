// Real palisade-proxy processes whose identity comes from a control plane:
// an in-test IdentityService behind a BoringSSL TLS front (the shape
// palisade-control has), reached by the proxies' own control-plane client.
// Both proxies of a two-hop mesh bootstrap with join tokens, then carry
// traffic on the SVIDs they were issued; /ready waits for the first SVID.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/strings/str_cat.h"
#include "identity/certificate.h"
#include "proxy/identity_client/testing/fake_identity_service.h"
#include "proxy/identity_client/testing/test_tls_server.h"
#include "tests/integration/proxy_fixture.h"
#include "tests/util/loopback.h"
#include "tests/util/mesh_fixture.h"
#include "tests/util/process.h"
#include "tests/util/prometheus_text.h"
#include "tests/util/status_matchers.h"
#include "tests/util/test_pki.h"

namespace palisade::testing {
namespace {

using identity_client::testing::FakeIdentityService;
using identity_client::testing::TestTlsServer;

constexpr char kControlId[] = "spiffe://cluster.local/palisade/control";

control::v1::TrustBundleUpdate BundleOf(uint64_t version, const std::vector<const TestPki*>& pkis) {
  control::v1::TrustBundleUpdate update;
  update.set_version(version);
  control::v1::TrustDomainBundle* domain = update.add_trust_domains();
  domain->set_trust_domain(kTrustDomain);
  for (const TestPki* pki : pkis) {
    domain->add_root_certificates_der(identity::CertificateToDer(pki->root().x509()));
  }
  return update;
}

class ProxyControlPlaneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = mesh_.dir();
    TestPki::Options options;
    options.trust_domain = kTrustDomain;
    pki_ = TestPki(options);
    next_pki_ = TestPki(options);
    WriteFile(dir_ + "/bootstrap.pem", pki_.BundlePem());
    WriteFile(dir_ + "/frontend.token", "token-frontend\n");
    WriteFile(dir_ + "/backend.token", "token-backend\n");

    fake_ = std::make_unique<FakeIdentityService>(
        FakeIdentityService::Issuer{pki_.intermediate().x509(),
                                    pki_.intermediate().key.get(),
                                    {pki_.intermediate().x509()}},
        BundleOf(1, {&pki_}));
    fake_->AcceptJoinToken("token-frontend", kFrontendId);
    fake_->AcceptJoinToken("token-backend", kBackendId);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &grpc_port_);
    builder.RegisterService(fake_.get());
    grpc_server_ = builder.BuildAndStart();
    control_leaf_ = pki_.IssueLeaf("/palisade/control");
    TestTlsServer::Options front;
    front.chain = pki_.Chain(control_leaf_);
    front.key = control_leaf_.key.get();
    identity::TrustBundleSet::Builder clients;
    ASSERT_TRUE(clients.Add(kTrustDomain, pki_.root().x509()).ok());
    front.client_bundles = clients.Build();
    front.backend = "127.0.0.1:" + std::to_string(grpc_port_);
    auto started = TestTlsServer::Start(std::move(front));
    ASSERT_TRUE(started.ok()) << started.status();
    front_ = *std::move(started);
    fake_->set_front(front_.get());

    ASSERT_OK_AND_ASSIGN(echo_, mesh_.StartBackend("echo"));
  }

  void TearDown() override {
    mesh_.StopProxies();
    grpc_server_->Shutdown(std::chrono::system_clock::now());
    grpc_server_.reset();
    fake_->set_front(nullptr);
    front_.reset();
  }

  // Identity from the in-test control plane, with the join token SetUp wrote.
  ProxyYaml IdentityConfig(const std::string& name, const std::string& id) const {
    ProxyYaml config = mesh_.BaseConfig();
    config.identity.spiffe_id = id;
    ProxyYaml::ControlPlane& cp = config.identity.control_plane.emplace();
    cp.address = front_->address();
    cp.server_spiffe_id = kControlId;
    cp.bootstrap_bundle_file = dir_ + "/bootstrap.pem";
    cp.join_token_file = dir_ + "/" + name + ".token";
    cp.instance_name = name;
    cp.initial_backoff = "100ms";
    cp.max_backoff = "500ms";
    return config;
  }

  void StartInbound() {
    ProxyYaml config = IdentityConfig("backend", kBackendId);
    config.AddInbound("in", echo_->address()).authorization.spiffe_ids = {kFrontendId};
    ASSERT_OK_AND_ASSIGN(inbound_, mesh_.StartProxy("inbound", config));
  }

  void StartOutbound() {
    ProxyYaml config = IdentityConfig("frontend", kFrontendId);
    config.AddOutbound("out", absl::StrCat("127.0.0.1:", *inbound_->ListenerPort("in")))
        .expected_peer.spiffe_id = kBackendId;
    ASSERT_OK_AND_ASSIGN(outbound_, mesh_.StartProxy("outbound", config));
  }

  // Sends `message` through the outbound proxy and returns what came back.
  std::string RoundTrip(const std::string& message) {
    const int fd = ConnectLoopback(*outbound_->ListenerPort("out"));
    if (fd < 0) return "";
    std::string reply = EchoExchange(fd, message);
    close(fd);
    return reply;
  }

  static std::string CertsField(ProxyProcess& proxy, const std::string& field) {
    const auto j =
        nlohmann::json::parse(HttpGet(proxy.admin_url() + "/certs").body, nullptr, false);
    if (j.is_discarded() || !j.contains("svid") || j["svid"].is_null()) return "";
    if (field == "source") return j.value("source", "");
    return j["svid"].value(field, "");
  }

  MeshFixture mesh_;
  std::string dir_;
  TestPki pki_;
  TestPki next_pki_;
  Credential control_leaf_;
  std::unique_ptr<FakeIdentityService> fake_;
  int grpc_port_ = 0;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<TestTlsServer> front_;
  EchoBackend* echo_ = nullptr;
  ProxyProcess* inbound_ = nullptr;
  ProxyProcess* outbound_ = nullptr;
};

TEST_F(ProxyControlPlaneTest, ProxiesGetTheirSvidsFromTheControlPlaneAndCarryTraffic) {
  StartInbound();
  ASSERT_TRUE(inbound_->WaitReady()) << inbound_->process().Output();
  StartOutbound();
  ASSERT_TRUE(outbound_->WaitReady()) << outbound_->process().Output();

  EXPECT_EQ(RoundTrip("hello through the mesh"), "hello through the mesh");
  for (ProxyProcess* proxy : {inbound_, outbound_}) {
    EXPECT_EQ(CertsField(*proxy, "source"), "control-plane");
    EXPECT_TRUE(WaitFor(
        [&] { return MetricValue(proxy->Metrics(), "palisade_identity_client_connected") == 1; },
        absl::Seconds(20)));
    EXPECT_GT(
        MetricValue(proxy->Metrics(), "palisade_identity_client_last_renewal_timestamp_seconds")
            .value_or(0),
        0);
  }
  EXPECT_EQ(CertsField(*inbound_, "spiffe_id"), kBackendId);
  EXPECT_EQ(CertsField(*outbound_, "spiffe_id"), kFrontendId);
  // Each bootstrapped with its token, then came back over mTLS with its SVID.
  ASSERT_TRUE(fake_->WaitFor([](const FakeIdentityService::Log& log) {
    int mtls = 0;
    for (const auto& hello : log.hellos) mtls += hello.peer_id.empty() ? 0 : 1;
    return mtls >= 2;
  }));
}

TEST_F(ProxyControlPlaneTest, StaysNotReadyUntilTheFirstSvidArrives) {
  front_->SetRefusing(true);
  StartInbound();
  const HttpResult ready = HttpGet(inbound_->admin_url() + "/ready");
  EXPECT_EQ(ready.status, 503);
  EXPECT_NE(ready.body.find("no SVID"), std::string::npos) << ready.body;
  EXPECT_EQ(MetricValue(inbound_->Metrics(), "palisade_identity_client_connected"), 0);

  front_->SetRefusing(false);
  ASSERT_TRUE(inbound_->WaitReady()) << inbound_->process().Output();
  EXPECT_EQ(CertsField(*inbound_, "spiffe_id"), kBackendId);
}

TEST_F(ProxyControlPlaneTest, RekeysAndInstallsPushedBundlesWhileServing) {
  StartInbound();
  ASSERT_TRUE(inbound_->WaitReady()) << inbound_->process().Output();
  StartOutbound();
  ASSERT_TRUE(outbound_->WaitReady()) << outbound_->process().Output();
  const std::string serial = CertsField(*inbound_, "serial");

  fake_->PushBundle(BundleOf(2, {&pki_, &next_pki_}));
  ASSERT_TRUE(WaitFor(
      [&] {
        return MetricValue(inbound_->Metrics(), "palisade_trust_bundle_roots",
                           {{"trust_domain", kTrustDomain}}) == 2;
      },
      absl::Seconds(20)));
  fake_->PushRekey("root_rollover");
  ASSERT_TRUE(
      WaitFor([&] { return CertsField(*inbound_, "serial") != serial; }, absl::Seconds(20)));
  EXPECT_EQ(RoundTrip("after the rotation"), "after the rotation");
  EXPECT_GE(MetricValue(inbound_->Metrics(), "palisade_svid_rotations_total").value_or(0), 1);
}

}  // namespace
}  // namespace palisade::testing
