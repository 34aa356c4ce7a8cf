// The control-plane source's test fixture: a FakeIdentityService behind a
// TestTlsServer (the control plane's TLS front), a credential store, metrics,
// a clock the test can move, and every log line captured.
#ifndef PALISADE_PROXY_IDENTITY_CLIENT_CONTROL_PLANE_SOURCE_FIXTURE_H_
#define PALISADE_PROXY_IDENTITY_CLIENT_CONTROL_PLANE_SOURCE_FIXTURE_H_

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <openssl/mem.h>
#include <spdlog/sinks/base_sink.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "identity/certificate.h"
#include "proxy/identity_client/control_plane_source.h"
#include "proxy/identity_client/testing/fake_identity_service.h"
#include "proxy/identity_client/testing/test_tls_server.h"
#include "runtime/log/logging.h"
#include "tests/util/process.h"
#include "tests/util/status_matchers.h"
#include "tests/util/test_pki.h"

// Tests using the fixture open this namespace too.
namespace palisade::identity_client::source_testing {

using ::palisade::testing::Credential;
using ::palisade::testing::IsOk;
using ::palisade::testing::MakeTempDir;
using ::palisade::testing::TestPki;
using ::palisade::testing::WaitFor;
using ::palisade::testing::WriteFile;
using testing::FakeIdentityService;
using testing::TestTlsServer;
using Log = FakeIdentityService::Log;

inline constexpr char kServerId[] = "spiffe://cluster.local/palisade/control";
inline constexpr char kWorkloadId[] = "spiffe://cluster.local/ns/shop/sa/cart";
inline constexpr char kJoinToken[] = "join-123";

inline control::v1::TrustBundleUpdate BundleOf(uint64_t version,
                                               const std::vector<const TestPki*>& pkis) {
  control::v1::TrustBundleUpdate update;
  update.set_version(version);
  control::v1::TrustDomainBundle* domain = update.add_trust_domains();
  domain->set_trust_domain("cluster.local");
  for (const TestPki* pki : pkis) {
    domain->add_root_certificates_der(identity::CertificateToDer(pki->root().x509()));
  }
  return update;
}

inline FakeIdentityService::Issuer IssuerOf(const TestPki& pki) {
  return {pki.intermediate().x509(), pki.intermediate().key.get(), {pki.intermediate().x509()}};
}

inline std::string PublicKeyDer(EVP_PKEY* key) {
  uint8_t* der = nullptr;
  const int len = i2d_PUBKEY(key, &der);
  std::string out(reinterpret_cast<char*>(der), len > 0 ? len : 0);
  OPENSSL_free(der);
  return out;
}

// Keeps every log line, for tests that check what the source says.
class CapturingSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::vector<std::string> lines() {
    std::lock_guard<std::mutex> lock(mutex_);
    return lines_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    lines_.push_back(fmt::to_string(formatted));
  }
  void flush_() override {}

 private:
  std::vector<std::string> lines_;
};

inline TestPki::Options PkiOptions() {
  TestPki::Options options;
  options.trust_domain = "cluster.local";
  return options;
}

class ControlPlaneSourceTest : public ::testing::Test {
 protected:
  ControlPlaneSourceTest() : pki_(PkiOptions()), next_pki_(PkiOptions()) {
    sink_ = std::make_shared<CapturingSink>();
    log::LogOptions log_options;
    log_options.sink = sink_;
    EXPECT_THAT(log::InitLogging(log_options), IsOk());
    dir_ = MakeTempDir("control_plane_source");
    WriteFile(dir_ + "/bootstrap.pem", pki_.BundlePem());
    WriteFile(dir_ + "/join_token", std::string(kJoinToken) + "\n");
    fake_ = std::make_unique<FakeIdentityService>(IssuerOf(pki_), BundleOf(1, {&pki_}));
    fake_->AcceptJoinToken(kJoinToken, kWorkloadId);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &grpc_port_);
    builder.RegisterService(fake_.get());
    grpc_server_ = builder.BuildAndStart();
    StartFront(pki_);
    credentials::CredentialStore::Options store_options;
    store_options.expected_id = *identity::SpiffeId::Parse(kWorkloadId);
    store_options.clock = [this] { return Now(); };
    store_ = std::make_unique<credentials::CredentialStore>(store_options);
    metrics_ = std::make_unique<metrics::ProxyMetrics>(100);
  }

  ~ControlPlaneSourceTest() override {
    source_.reset();
    grpc_server_->Shutdown(std::chrono::system_clock::now());
    grpc_server_.reset();
    fake_->set_front(nullptr);
    front_.reset();
    log::InitLogging("info", "text").IgnoreError();
  }

  // The control plane's TLS front, presenting an SVID issued under `pki`.
  // Client SVIDs are verified under `clients_pki` (default: pki_).
  void StartFront(const TestPki& pki, uint16_t port = 0, const TestPki* clients_pki = nullptr) {
    control_leaf_ = pki.IssueLeaf("/palisade/control");
    TestTlsServer::Options options;
    options.chain = pki.Chain(control_leaf_);
    options.key = control_leaf_.key.get();
    identity::TrustBundleSet::Builder clients;
    EXPECT_THAT(
        clients.Add("cluster.local", (clients_pki != nullptr ? *clients_pki : pki_).root().x509()),
        IsOk());
    options.client_bundles = clients.Build();
    options.backend = "127.0.0.1:" + std::to_string(grpc_port_);
    options.port = port;
    auto front = TestTlsServer::Start(std::move(options));
    ASSERT_THAT(front, IsOk());
    front_ = *std::move(front);
    fake_->set_front(front_.get());
  }

  ControlPlaneSource::Options Options() {
    ControlPlaneSource::Options options;
    config::v1::ControlPlaneIdentitySource& config = options.config;
    config.set_address(front_->address());
    config.set_server_spiffe_id(kServerId);
    config.set_bootstrap_bundle_file(dir_ + "/bootstrap.pem");
    config.set_join_token_file(dir_ + "/join_token");
    config.set_instance_name("cart-7d9f8");
    config.set_renew_fraction(0.5);
    config.mutable_initial_backoff()->set_nanos(20'000'000);
    config.mutable_max_backoff()->set_nanos(200'000'000);
    options.spiffe_id = kWorkloadId;
    options.store = store_.get();
    options.metrics = metrics_.get();
    options.connections_by_root = [] { return std::map<std::string, uint64_t>{{"ab12", 2}}; };
    options.version = "0.1.0-test";
    options.renewal.min_wait = absl::Milliseconds(10);
    options.max_idle_wait = absl::Milliseconds(20);
    options.clock = [this] { return Now(); };
    return options;
  }

  void StartSource(ControlPlaneSource::Options options) {
    auto source = ControlPlaneSource::Start(std::move(options));
    ASSERT_THAT(source, IsOk());
    source_ = *std::move(source);
  }
  void StartSource() { StartSource(Options()); }

  // Until the proxy holds its first SVID and its mTLS stream is up.
  void WaitForMtlsStream() {
    ASSERT_TRUE(fake_->WaitFor([](const Log& log) {
      return !log.hellos.empty() && log.hellos.back().peer_id == kWorkloadId &&
             log.live_streams == 1;
    })) << source_->status().last_error;
    ASSERT_TRUE(WaitFor([&] { return source_->status().connected; }, absl::Seconds(20)));
    ASSERT_NE(store_->Current(), nullptr);
  }

  std::string Serial() {
    auto current = store_->Current();
    return current == nullptr ? "" : current->serial;
  }

  double Metric(const std::string& name) {
    const std::string text = metrics_->Serialize(absl::Now());
    const size_t at = text.find("\n" + name + " ");
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + name.size() + 2));
  }

  absl::Time Now() const { return absl::Now() + absl::Nanoseconds(skew_ns_.load()); }
  void AdvanceClock(absl::Duration d) { skew_ns_ += absl::ToInt64Nanoseconds(d); }

  std::shared_ptr<CapturingSink> sink_;
  std::string dir_;
  TestPki pki_;
  TestPki next_pki_;  // a second root of the same trust domain (rollover)
  Credential control_leaf_;
  std::unique_ptr<FakeIdentityService> fake_;
  int grpc_port_ = 0;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<TestTlsServer> front_;
  std::atomic<int64_t> skew_ns_{0};
  std::unique_ptr<credentials::CredentialStore> store_;
  std::unique_ptr<metrics::ProxyMetrics> metrics_;
  std::unique_ptr<ControlPlaneSource> source_;
};

}  // namespace palisade::identity_client::source_testing

#endif  // PALISADE_PROXY_IDENTITY_CLIENT_CONTROL_PLANE_SOURCE_FIXTURE_H_
