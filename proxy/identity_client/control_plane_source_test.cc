#include "proxy/identity_client/control_plane_source.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <openssl/mem.h>
#include <spdlog/sinks/base_sink.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "identity/certificate.h"
#include "proxy/identity_client/testing/fake_identity_service.h"
#include "proxy/identity_client/testing/test_tls_server.h"
#include "runtime/log/logging.h"
#include "runtime/net/socket_address.h"
#include "runtime/net/sockets.h"
#include "tests/util/process.h"
#include "tests/util/status_matchers.h"
#include "tests/util/test_pki.h"

namespace palisade::identity_client {
namespace {

using ::palisade::testing::Credential;
using ::palisade::testing::IsOk;
using ::palisade::testing::MakeTempDir;
using ::palisade::testing::TestPki;
using ::palisade::testing::WaitFor;
using ::palisade::testing::WriteFile;
using testing::FakeIdentityService;
using ::testing::HasSubstr;
using testing::TestTlsServer;
using Log = FakeIdentityService::Log;

constexpr char kServerId[] = "spiffe://cluster.local/palisade/control";
constexpr char kWorkloadId[] = "spiffe://cluster.local/ns/shop/sa/cart";
constexpr char kJoinToken[] = "join-123";

control::v1::TrustBundleUpdate BundleOf(uint64_t version, const std::vector<const TestPki*>& pkis) {
  control::v1::TrustBundleUpdate update;
  update.set_version(version);
  control::v1::TrustDomainBundle* domain = update.add_trust_domains();
  domain->set_trust_domain("cluster.local");
  for (const TestPki* pki : pkis) {
    domain->add_root_certificates_der(identity::CertificateToDer(pki->root().x509()));
  }
  return update;
}

FakeIdentityService::Issuer IssuerOf(const TestPki& pki) {
  return {pki.intermediate().x509(), pki.intermediate().key.get(), {pki.intermediate().x509()}};
}

std::string PublicKeyDer(EVP_PKEY* key) {
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

TestPki::Options PkiOptions() {
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

TEST_F(ControlPlaneSourceTest, ObtainsItsFirstSvidWithTheJoinTokenThenReconnectsOverMtls) {
  StartSource();
  WaitForMtlsStream();

  const Log log = fake_->log();
  ASSERT_GE(log.hellos.size(), 2u);
  EXPECT_EQ(log.hellos[0].peer_id, "");
  EXPECT_EQ(log.hellos[0].hello.join_token(), kJoinToken);
  EXPECT_EQ(log.hellos[0].hello.instance_name(), "cart-7d9f8");
  EXPECT_EQ(log.hellos[0].hello.version(), "0.1.0-test");
  // The renewal stream is authenticated by the SVID alone.
  EXPECT_EQ(log.hellos[1].peer_id, kWorkloadId);
  EXPECT_EQ(log.hellos[1].hello.credential_case(), control::v1::Hello::CREDENTIAL_NOT_SET);
  ASSERT_EQ(log.csrs.size(), 1u);
  EXPECT_TRUE(log.csrs[0].bootstrap);
  EXPECT_EQ(log.csrs[0].spiffe_id, kWorkloadId);

  auto snapshot = store_->Current();
  EXPECT_EQ(snapshot->spiffe_id.ToString(), kWorkloadId);
  EXPECT_EQ(snapshot->source, "control-plane");
  EXPECT_EQ(snapshot->serial, log.issued_serials[0]);
  // The key in use is the one whose public half went out in the CSR.
  EXPECT_EQ(PublicKeyDer(snapshot->key.get()), log.csrs[0].public_key_der);

  const ControlPlaneSource::Status status = source_->status();
  EXPECT_EQ(status.svids_installed, 1u);
  EXPECT_EQ(status.reconnects, 1u);  // the bootstrap stream, then the mTLS one
  EXPECT_EQ(status.failed_attempts, 0u);
  // Own schedule: half the lifetime, +/- 10 %.
  ASSERT_TRUE(status.next_renewal.has_value());
  const absl::Duration lifetime = snapshot->not_after - snapshot->not_before;
  EXPECT_GE(*status.next_renewal, snapshot->not_before + lifetime * 0.45);
  EXPECT_LE(*status.next_renewal, snapshot->not_before + lifetime * 0.55);
  EXPECT_EQ(Metric("palisade_control_plane_connected"), 1);
  EXPECT_EQ(Metric("palisade_control_plane_reconnects_total"), 1);
  EXPECT_GT(Metric("palisade_control_plane_last_renewal_timestamp_seconds"), 0);
}

TEST_F(ControlPlaneSourceTest, RetriesWithBackoffWhileItsTokenIsRefused) {
  WriteFile(dir_ + "/join_token", "stale-token");
  StartSource();
  ASSERT_TRUE(fake_->WaitFor([](const Log& log) { return log.hellos.size() >= 3; }));
  EXPECT_EQ(store_->Current(), nullptr);
  EXPECT_GE(source_->status().failed_attempts, 2u);
  EXPECT_THAT(source_->status().last_error, HasSubstr("no credential"));

  // The token file is read on every attempt: a fixed token is picked up.
  WriteFile(dir_ + "/join_token", kJoinToken);
  WaitForMtlsStream();
}

TEST_F(ControlPlaneSourceTest, RenewsWhenTheServersRenewAfterSays) {
  fake_->SetRenewAfter(absl::Milliseconds(300));
  StartSource();
  WaitForMtlsStream();
  const Log first = fake_->log();
  ASSERT_EQ(first.renew_after.size(), 1u);
  ASSERT_TRUE(source_->status().next_renewal.has_value());
  EXPECT_EQ(absl::ToUnixNanos(*source_->status().next_renewal),
            absl::ToUnixNanos(first.renew_after[0]));

  fake_->SetRenewAfter(std::nullopt);
  ASSERT_TRUE(fake_->WaitFor([](const Log& log) { return log.csrs.size() >= 2; }));
  const Log renewed = fake_->log();
  EXPECT_FALSE(renewed.csrs[1].bootstrap);  // over the mTLS stream
  EXPECT_EQ(renewed.csrs[1].stream_id, kWorkloadId);
  EXPECT_GE(renewed.csrs[1].received_at, first.renew_after[0]);
  EXPECT_NE(renewed.csrs[1].public_key_der, renewed.csrs[0].public_key_der);
  ASSERT_TRUE(
      WaitFor([&] { return Serial() == fake_->log().issued_serials[1]; }, absl::Seconds(20)));
}

TEST_F(ControlPlaneSourceTest, InstallsAPushedBundleThenAcknowledgesAndReports) {
  StartSource();
  WaitForMtlsStream();
  fake_->PushBundle(BundleOf(7, {&pki_, &next_pki_}));
  ASSERT_TRUE(fake_->WaitFor([](const Log& log) {
    return !log.acks.empty() && log.acks.back() == 7 && log.order.back() == "report";
  }));
  EXPECT_EQ(store_->Current()->bundles.root_count(), 2u);
  const Log log = fake_->log();
  ASSERT_FALSE(log.reports.empty());
  ASSERT_EQ(log.reports.back().roots_size(), 1);
  EXPECT_EQ(log.reports.back().roots(0).fingerprint_sha256(), "ab12");
  EXPECT_EQ(log.reports.back().roots(0).live_connections(), 2u);
}

TEST_F(ControlPlaneSourceTest, AnswersARekeyRequestWithACsrForAFreshKey) {
  StartSource();
  WaitForMtlsStream();
  fake_->PushRekey("root_rollover");
  ASSERT_TRUE(fake_->WaitFor([](const Log& log) { return log.issued_serials.size() >= 2; }));
  ASSERT_TRUE(
      WaitFor([&] { return Serial() == fake_->log().issued_serials[1]; }, absl::Seconds(20)));
  const Log log = fake_->log();
  EXPECT_FALSE(log.csrs[1].bootstrap);
  EXPECT_NE(log.csrs[1].public_key_der, log.csrs[0].public_key_der);
  EXPECT_EQ(PublicKeyDer(store_->Current()->key.get()), log.csrs[1].public_key_der);
}

TEST_F(ControlPlaneSourceTest, KeepsServingAndReconnectsWithBackoffWhileTheServerIsGone) {
  StartSource();
  WaitForMtlsStream();
  const std::string serial = Serial();
  front_->SetRefusing(true);
  ASSERT_TRUE(WaitFor([&] { return source_->status().failed_attempts >= 3; }, absl::Seconds(20)));
  EXPECT_FALSE(source_->status().connected);
  EXPECT_EQ(Metric("palisade_control_plane_connected"), 0);
  EXPECT_EQ(Serial(), serial);  // still serving with the same SVID

  const uint64_t hellos = fake_->log().hellos.size();
  front_->SetRefusing(false);
  ASSERT_TRUE(fake_->WaitFor([&](const Log& log) {
    return log.hellos.size() > hellos && log.hellos.back().peer_id == kWorkloadId;
  }));
  ASSERT_TRUE(WaitFor([&] { return source_->status().connected; }, absl::Seconds(20)));
  EXPECT_EQ(Serial(), serial);
  EXPECT_GE(Metric("palisade_control_plane_reconnects_total"), 2);
}

TEST_F(ControlPlaneSourceTest, KeepsTheRunningSvidWhenTheStoreRefusesAnIssuedOne) {
  StartSource();
  WaitForMtlsStream();
  const std::string serial = Serial();
  TestPki stranger(PkiOptions());  // a CA the bundle does not hold
  fake_->SetIssuer(IssuerOf(stranger));
  fake_->PushRekey("test");
  ASSERT_TRUE(WaitFor([&] { return source_->status().updates_rejected >= 1; }, absl::Seconds(20)));
  EXPECT_EQ(Serial(), serial);
  EXPECT_THAT(source_->status().last_error, HasSubstr("untrusted_chain"));
  // It retries on its own, with a fresh key each time.
  ASSERT_TRUE(fake_->WaitFor([](const Log& log) { return log.csrs.size() >= 3; }));
  fake_->SetIssuer(IssuerOf(pki_));
  ASSERT_TRUE(WaitFor([&] { return Serial() != serial; }, absl::Seconds(20)));
  EXPECT_EQ(Serial(), fake_->log().issued_serials.back());
  EXPECT_GE(Metric("palisade_identity_updates_rejected_total{source=\"control-plane\"}"), 1);
}

TEST_F(ControlPlaneSourceTest, ReportsConnectionsEveryInterval) {
  ControlPlaneSource::Options options = Options();
  options.report_interval = absl::Milliseconds(50);
  StartSource(std::move(options));
  WaitForMtlsStream();
  ASSERT_TRUE(fake_->WaitFor([](const Log& log) { return log.reports.size() >= 4; }));
}

TEST_F(ControlPlaneSourceTest, VerifiesTheControlPlaneWithTheBundleItWasSent) {
  StartSource();
  WaitForMtlsStream();
  fake_->PushBundle(BundleOf(2, {&pki_, &next_pki_}));
  ASSERT_TRUE(
      fake_->WaitFor([](const Log& log) { return !log.acks.empty() && log.acks.back() == 2; }));

  // The control plane comes back with an SVID under the new root, which the
  // bootstrap bundle file does not hold.
  const size_t hellos = fake_->log().hellos.size();
  const uint16_t port = front_->port();
  fake_->set_front(nullptr);
  front_.reset();
  StartFront(next_pki_, port);
  ASSERT_TRUE(fake_->WaitFor([&](const Log& log) {
    return log.hellos.size() > hellos && log.hellos.back().peer_id == kWorkloadId;
  })) << source_->status().last_error;
}

TEST_F(ControlPlaneSourceTest, FallsBackToItsBootstrapCredentialWhenTheServerRefusesItsSvid) {
  StartSource();
  WaitForMtlsStream();
  const std::string serial = Serial();
  // The control plane comes back no longer trusting the CA of our SVID (it
  // lost its state, say): the SVID is refused, the join token still works.
  const size_t hellos = fake_->log().hellos.size();
  const uint16_t port = front_->port();
  fake_->set_front(nullptr);
  front_.reset();
  StartFront(pki_, port, /*clients_pki=*/&next_pki_);
  ASSERT_TRUE(fake_->WaitFor([&](const Log& log) {
    return log.hellos.size() > hellos && log.hellos.back().hello.join_token() == kJoinToken;
  })) << source_->status().last_error;
  ASSERT_TRUE(WaitFor([&] { return Serial() != serial; }, absl::Seconds(20)));
  EXPECT_TRUE(fake_->log().csrs.back().bootstrap);
}

TEST_F(ControlPlaneSourceTest, RefusesAControlPlaneItsBundleDoesNotTrust) {
  fake_->set_front(nullptr);
  front_.reset();
  StartFront(next_pki_);  // the bootstrap bundle holds only pki_'s root
  StartSource();
  ASSERT_TRUE(WaitFor([&] { return source_->status().failed_attempts >= 2; }, absl::Seconds(20)));
  EXPECT_THAT(source_->status().last_error, HasSubstr("untrusted_chain"));
  EXPECT_TRUE(fake_->log().hellos.empty());
  EXPECT_EQ(store_->Current(), nullptr);
}

TEST_F(ControlPlaneSourceTest, SaysLoudlyWhenItsSvidExpiredWithoutRenewal) {
  ControlPlaneSource::Options options = Options();
  options.expired_log_interval = absl::Minutes(10);
  StartSource(std::move(options));
  WaitForMtlsStream();
  front_->SetRefusing(true);
  AdvanceClock(absl::Hours(2));  // past the SVID's notAfter
  ASSERT_TRUE(WaitFor([&] { return source_->status().expired_warnings == 1; }, absl::Seconds(20)));
  // Not again until the interval has passed, however often it looks.
  const uint64_t attempts = source_->status().failed_attempts;
  ASSERT_TRUE(WaitFor([&] { return source_->status().failed_attempts >= attempts + 3; },
                      absl::Seconds(20)));
  EXPECT_EQ(source_->status().expired_warnings, 1u);
  AdvanceClock(absl::Minutes(11));
  ASSERT_TRUE(WaitFor([&] { return source_->status().expired_warnings == 2; }, absl::Seconds(20)));

  int errors = 0;
  for (const std::string& line : sink_->lines()) {
    if (absl::StrContains(line, "has expired") && absl::StrContains(line, "error")) ++errors;
  }
  EXPECT_EQ(errors, 2);
  EXPECT_NE(store_->Current(), nullptr);  // the data plane fails closed on it
}

TEST_F(ControlPlaneSourceTest, ObtainsItsFirstSvidWithAServiceAccountTokenReadOnEveryUse) {
  const auto jwt = [](const std::string& nonce) {
    return absl::WebSafeBase64Escape(R"({"alg":"RS256"})") + "." +
           absl::WebSafeBase64Escape(R"({"sub":"system:serviceaccount:shop:cart","jti":")" + nonce +
                                     R"("})") +
           ".c2ln";
  };
  WriteFile(dir_ + "/sa_token", jwt("old"));
  fake_->AcceptServiceAccountToken(jwt("new"), kWorkloadId);
  ControlPlaneSource::Options options = Options();
  options.config.set_service_account_token_file(dir_ + "/sa_token");
  options.spiffe_id.clear();  // derived from the token's subject
  StartSource(std::move(options));
  ASSERT_TRUE(fake_->WaitFor([](const Log& log) { return log.hellos.size() >= 2; }));
  EXPECT_EQ(store_->Current(), nullptr);

  WriteFile(dir_ + "/sa_token", jwt("new"));  // the kubelet rotated it
  WaitForMtlsStream();
  EXPECT_EQ(store_->Current()->spiffe_id.ToString(), kWorkloadId);
  const Log log = fake_->log();
  EXPECT_EQ(log.hellos[0].hello.service_account_token(), jwt("old"));
  EXPECT_EQ(log.csrs[0].spiffe_id, kWorkloadId);
}

TEST_F(ControlPlaneSourceTest, StopsPromptlyWhileAHandshakeHangs) {
  auto silent = net::BindListener(*net::SocketAddress::Parse("127.0.0.1:0"), false);
  ASSERT_THAT(silent, IsOk());
  ControlPlaneSource::Options options = Options();
  options.config.set_address(net::LocalAddressOf(silent->get())->ToString());
  options.handshake_timeout = absl::Minutes(5);
  StartSource(std::move(options));
  const absl::Time start = absl::Now();
  source_->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_FALSE(source_->status().connected);
}

TEST_F(ControlPlaneSourceTest, RefusesToStartWithoutAnIdentityToAskFor) {
  ControlPlaneSource::Options options = Options();
  options.spiffe_id.clear();  // a join token says nothing about it
  EXPECT_THAT(ControlPlaneSource::Start(std::move(options)),
              ::palisade::testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("identity.spiffe_id")));
  options = Options();
  options.config.set_bootstrap_bundle_file(dir_ + "/absent.pem");
  EXPECT_THAT(ControlPlaneSource::Start(std::move(options)),
              ::palisade::testing::StatusIs(absl::StatusCode::kNotFound,
                                            HasSubstr("bootstrap_bundle_file")));
}

}  // namespace
}  // namespace palisade::identity_client
