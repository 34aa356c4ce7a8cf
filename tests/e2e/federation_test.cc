// Federation end to end (issue 16) with real processes: two palisade-control
// instances for trust domains a.test and b.test, each serving its bundle at a
// SPIFFE bundle endpoint and federated with the other; a workload proxy in A
// calls a workload proxy in B (bytes checked with SHA-256); a B identity
// signed by A's CA is refused by A's side; B rolls its root over and A's
// proxies follow without a failed connection.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "identity/certificate.h"
#include "identity/keys.h"
#include "runtime/tls/context_setup.h"
#include "tests/util/loopback.h"
#include "tests/util/mesh_fixture.h"
#include "tests/util/process.h"
#include "tests/util/prometheus_text.h"
#include "tests/util/status_matchers.h"
#include "tests/util/test_pki.h"

namespace palisade::testing {
namespace {

constexpr char kAClient[] = "spiffe://a.test/ns/web/sa/client";
constexpr char kBServer[] = "spiffe://b.test/ns/api/sa/server";
// B's bundle endpoint advertises this refresh hint and A fetches at least
// this often (and the other way round): one refresh interval.
constexpr absl::Duration kRefresh = absl::Seconds(1);
// Slack for a loaded two-core machine on top of one refresh interval: the
// fetch itself, the push to the proxy, its install.
constexpr absl::Duration kSlack = absl::Seconds(4);

std::string Sha256Hex(const std::string& bytes) {
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

std::string RandomBytes(size_t n) {
  std::string bytes(n, '\0');
  RAND_bytes(reinterpret_cast<uint8_t*>(bytes.data()), n);
  return bytes;
}

// One connection through `port`: 16 KiB of random bytes out, the same back
// (compared by SHA-256). Bounded by the socket timeout.
bool EchoOnce(uint16_t port) {
  const int fd = ConnectLoopback(port, absl::Seconds(5));
  if (fd < 0) return false;
  const std::string sent = RandomBytes(16 * 1024);
  const std::string back = EchoExchange(fd, sent);
  ::close(fd);
  return Sha256Hex(back) == Sha256Hex(sent);
}

// The newest CA generation's directory under a control plane's state dir.
std::string NewestCaGeneration(const std::string& state_dir) {
  std::string newest;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(state_dir + "/ca", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("gen-", 0) == 0 && entry.path().string() > newest) newest = entry.path();
  }
  return newest;
}

// A TLS server on 127.0.0.1 presenting `chain` (leaf first) and echoing
// what a client sends once the handshake completes. It verifies nobody: the
// point is what the client makes of its certificate. A real palisade-proxy
// cannot play it: its own store refuses a b.test SVID under A's root (A's
// root is name-constrained to spiffe://a.test).
class Impostor {
 public:
  Impostor(std::vector<X509*> chain, EVP_PKEY* key) {
    tls::ContextOptions options;
    options.role = tls::Role::kServer;
    options.chain = std::move(chain);
    options.key = key;
    options.peer_certificates = tls::PeerCertificates::kOptional;
    absl::StatusOr<bssl::UniquePtr<SSL_CTX>> ctx = tls::NewContext(options);
    EXPECT_TRUE(ctx.ok()) << ctx.status();
    if (ctx.ok()) ctx_ = *std::move(ctx);
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~Impostor() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }
  int handshakes() const { return handshakes_.load(); }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) continue;
      ++accepted_;
      timeval tv{2, 0};
      ::setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      ::setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
      bssl::UniquePtr<SSL> ssl(SSL_new(ctx_.get()));
      SSL_set_fd(ssl.get(), conn);
      if (ssl != nullptr && SSL_accept(ssl.get()) == 1) {
        ++handshakes_;
        char buf[4096];
        for (int n; (n = SSL_read(ssl.get(), buf, sizeof(buf))) > 0;) SSL_write(ssl.get(), buf, n);
      }
      ::close(conn);
    }
  }

  bssl::UniquePtr<SSL_CTX> ctx_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0}, handshakes_{0};
  std::thread thread_;
};

class FederationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_port_ = PickFreeLoopbackPort();
    b_port_ = PickFreeLoopbackPort();
    ASSERT_NE(a_port_, 0);
    ASSERT_NE(b_port_, 0);
    // Each side needs the other's root for its federation file: A starts
    // alone first (making its CA), B starts federated with A, then A
    // restarts on the same state, federated with B.
    ASSERT_OK(a_.StartControl(ControlFlags(a_port_, "")));
    ASSERT_OK(b_.StartControl(ControlFlags(
        b_port_, WriteFederationFile(a_, "a.test", a_port_, a_.control().bundle_file()))));
    a_.StopControl();
    ASSERT_OK(a_.StartControl(ControlFlags(
        a_port_, WriteFederationFile(b_, "b.test", b_port_, b_.control().bundle_file()))));
    ASSERT_OK_AND_ASSIGN(echo_, b_.StartBackend("echo"));
  }

  // Short SVIDs; the bundle endpoint on a fixed port (the other side's
  // federation file names it); quick federation refreshes; short rollover
  // phases, as in tests/integration/control_server_rotation_test.
  std::vector<std::string> ControlFlags(uint16_t endpoint_port, const std::string& federation) {
    std::vector<std::string> flags = {
        "--svid_ttl=30s",
        "--clock_skew=2s",
        absl::StrCat("--bundle_endpoint_listen=127.0.0.1:", endpoint_port),
        absl::StrCat("--bundle_endpoint_refresh_hint=", absl::FormatDuration(kRefresh)),
        absl::StrCat("--federation_min_refresh=", absl::FormatDuration(kRefresh)),
        absl::StrCat("--federation_max_refresh=", absl::FormatDuration(kRefresh)),
        "--rollover_propagating_timeout=10s",
        "--rollover_rekeying_timeout=10s",
        "--rollover_retiring_timeout=5s",
    };
    if (!federation.empty()) flags.push_back("--federation_file=" + federation);
    return flags;
  }

  // The federation file of the side that federates with `other`.
  static std::string WriteFederationFile(MeshFixture& other, const std::string& domain,
                                         uint16_t port, const std::string& initial_bundle) {
    // A copy: the other side's state file changes at its rollover.
    const std::string bundle = other.dir() + "/initial_" + domain + ".pem";
    EXPECT_TRUE(WriteFile(bundle, ReadFileOrEmpty(initial_bundle)));
    const std::string path = other.dir() + "/federation_with_" + domain + ".yaml";
    EXPECT_TRUE(WriteFile(path, absl::StrCat("federation:\n"
                                             "  - trust_domain: ",
                                             domain,
                                             "\n"
                                             "    bundle_endpoint_url: https://127.0.0.1:",
                                             port,
                                             "/\n"
                                             "    profile: https_spiffe\n"
                                             "    endpoint_spiffe_id: spiffe://",
                                             domain,
                                             "/palisade/control\n"
                                             "    initial_bundle_file: ",
                                             bundle, "\n")));
    return path;
  }

  // B's server proxy: inbound to the echo backend, for A's workloads only.
  void StartBServer() {
    ASSERT_OK_AND_ASSIGN(ProxyYaml config, b_.ControlPlaneConfig("b-server", kBServer));
    config.identity.control_plane->federated_trust_domains = {"a.test"};
    config.AddInbound("in", echo_->address()).authorization.trust_domains = {"a.test"};
    ASSERT_OK_AND_ASSIGN(b_server_, b_.StartReadyProxy("b-server", config));
  }

  // A's client proxy: outbound to B's server, expecting its SPIFFE ID, and
  // (when `forged_port`) a second outbound to an impostor of the same ID.
  void StartAClient(uint16_t forged_port = 0) {
    ASSERT_OK_AND_ASSIGN(ProxyYaml config, a_.ControlPlaneConfig("a-client", kAClient));
    config.identity.control_plane->federated_trust_domains = {"b.test"};
    config.AddOutbound("to-b", absl::StrCat("127.0.0.1:", *b_server_->ListenerPort("in")))
        .expected_peer.spiffe_id = kBServer;
    if (forged_port != 0) {
      config.AddOutbound("to-forged", absl::StrCat("127.0.0.1:", forged_port))
          .expected_peer.spiffe_id = kBServer;
    }
    ASSERT_OK_AND_ASSIGN(a_client_, a_.StartReadyProxy("a-client", config));
    to_b_ = *a_client_->ListenerPort("to-b");
  }

  // Both proxies hold the other domain's bundle.
  void WaitForFederatedBundles() {
    for (ProxyProcess* proxy : {a_client_, b_server_}) {
      ASSERT_TRUE(WaitFor(
          [&] {
            return MetricValue(proxy->Metrics(), "palisade_trust_bundle_missing_domains") == 0.0;
          },
          absl::Seconds(15), absl::Milliseconds(100)))
          << proxy->Certs().dump(2) << Logs();
    }
  }

  std::string Logs() { return a_.Logs() + b_.Logs(); }

  MeshFixture a_{{.trust_domain = "a.test", .dir_prefix = "federation_a"}};
  MeshFixture b_{{.trust_domain = "b.test", .dir_prefix = "federation_b"}};
  uint16_t a_port_ = 0, b_port_ = 0;
  EchoBackend* echo_ = nullptr;
  ProxyProcess* b_server_ = nullptr;
  ProxyProcess* a_client_ = nullptr;
  uint16_t to_b_ = 0;
};

TEST_F(FederationTest, AWorkloadInACallsAWorkloadInBAndRefusesBIdentitiesSignedByA) {
  // An impostor: B's server ID in a leaf issued by A's CA (A's intermediate
  // and key, from its state directory).
  const std::string gen = NewestCaGeneration(a_.control().state_dir());
  ASSERT_FALSE(gen.empty());
  ASSERT_OK_AND_ASSIGN(auto a_int,
                       identity::ParsePemCertificates(ReadFileOrEmpty(gen + "/intermediate.pem")));
  ASSERT_OK_AND_ASSIGN(auto a_int_key,
                       identity::ParsePrivateKeyPem(ReadFileOrEmpty(gen + "/intermediate.key")));
  Credential a_issuer{std::move(a_int[0]), std::move(a_int_key)};
  Credential forged = Issue(LeafSpec(kBServer, absl::Now()), &a_issuer);
  Impostor impostor({forged.cert.get(), a_issuer.cert.get()}, forged.key.get());
  StartBServer();
  StartAClient(impostor.port());
  WaitForFederatedBundles();

  // A -> B, bytes checked end to end.
  int ok = 0;
  for (int i = 0; i < 20; ++i) ok += EchoOnce(to_b_) ? 1 : 0;
  EXPECT_EQ(ok, 20) << Logs();
  // Each side verified the other under the other's own root.
  const nlohmann::json a_certs = a_client_->Certs();
  const nlohmann::json b_certs = b_server_->Certs();
  ASSERT_EQ(a_certs["trust_bundles"]["b.test"].size(), 1u) << a_certs.dump(2);
  EXPECT_EQ(a_certs["trust_bundles"]["b.test"][0], b_certs["svid"]["root_fingerprint"]);
  EXPECT_EQ(b_certs["trust_bundles"]["a.test"][0], a_certs["svid"]["root_fingerprint"]);

  // The impostor: A's own CA signed it, but it claims b.test, whose bundle
  // A's proxy holds from B: refused in the handshake, nothing forwarded.
  const uint16_t to_forged = *a_client_->ListenerPort("to-forged");
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(EchoOnce(to_forged));
  EXPECT_TRUE(a_client_->WaitForMetricSum("palisade_handshakes_total",
                                          {{"listener", "to-forged"}, {"result", "failure"}}, 3))
      << a_client_->Metrics();
  EXPECT_EQ(MetricSum(a_client_->Metrics(), "palisade_handshakes_total",
                      {{"listener", "to-forged"}, {"result", "success"}}),
            0);
  // A's proxy reached the impostor and refused it in the handshake.
  EXPECT_GE(impostor.accepted(), 3);
}

TEST_F(FederationTest, BRollsItsRootOverAndAFollowsWithinARefreshWithoutAFailedConnection) {
  StartBServer();
  StartAClient();
  WaitForFederatedBundles();
  const std::string old_root = b_server_->Certs()["svid"]["root_fingerprint"];
  ASSERT_TRUE(EchoOnce(to_b_)) << Logs();

  // A client loop through A's proxy for the whole rollover, bounded in
  // count and in time; every connection's bytes checked.
  constexpr int kMaxConnections = 3000;
  const absl::Time deadline = absl::Now() + absl::Seconds(40);
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::thread traffic([&] {
    for (int i = 0; i < kMaxConnections && !stop && absl::Now() < deadline; ++i) {
      (EchoOnce(to_b_) ? ok : failed)++;
      absl::SleepFor(absl::Milliseconds(10));  // pacing, not a wait on a condition
    }
  });

  const CommandResult r = b_.control().Cli({"rollover", "start"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // B's bundle endpoint serves the new root once the command returns (under
  // ASan the CLI alone can take seconds): timed from there.
  const absl::Time started = absl::Now();
  // When A's proxy held B's new root (two roots for b.test), when B's server
  // presented a leaf under it, and whether the rollover ended with A's proxy
  // holding only the new root.
  std::optional<absl::Duration> learned, rekeyed;
  bool done = false;
  while (r.exit_code == 0 && !done && absl::Now() < deadline) {
    const nlohmann::json a_certs = a_client_->Certs();
    const auto& b_roots = a_certs["trust_bundles"]["b.test"];
    if (!learned.has_value() && b_roots.size() == 2) learned = absl::Now() - started;
    if (!rekeyed.has_value() && b_server_->Certs()["svid"]["root_fingerprint"] != old_root) {
      rekeyed = absl::Now() - started;
    }
    const auto rollover = nlohmann::json::parse(
        HttpGet(b_.control().admin_url() + "/api/v1/rollover").body, nullptr, false);
    done = rekeyed.has_value() && !rollover.is_discarded() &&
           rollover.value("phase", "") == "idle" && b_roots.size() == 1 && b_roots[0] != old_root;
    absl::SleepFor(absl::Milliseconds(50));
  }
  // Some more traffic on the new root alone, then stop.
  const int ok_at_end = ok.load();
  WaitFor([&] { return ok.load() >= ok_at_end + 20; }, absl::Seconds(5));
  stop = true;
  traffic.join();

  std::cout << "B rollover: A learned the new root after "
            << (learned ? absl::FormatDuration(*learned) : "never") << ", B's server rekeyed after "
            << (rekeyed ? absl::FormatDuration(*rekeyed) : "never") << "; connections ok=" << ok
            << " failed=" << failed << (done ? "" : " (rollover not finished)") << "\n";
  RecordProperty("connections_ok", ok.load());
  RecordProperty("connections_failed", failed.load());
  if (learned) RecordProperty("new_root_learned_ms", absl::ToInt64Milliseconds(*learned));
  ASSERT_TRUE(learned.has_value()) << a_client_->Certs().dump(2) << Logs();
  EXPECT_LE(*learned, kRefresh + kSlack);
  ASSERT_TRUE(rekeyed.has_value()) << b_server_->Certs().dump(2);
  EXPECT_TRUE(done) << HttpGet(b_.control().admin_url() + "/api/v1/rollover").body;
  EXPECT_GT(ok.load(), 100);
  EXPECT_EQ(failed.load(), 0) << Logs();
}

}  // namespace
}  // namespace palisade::testing
