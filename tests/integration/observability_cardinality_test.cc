// The peer_identity cap holds under many distinct clients: 5,000 mTLS
// handshakes, each with its own SVID, against a proxy with the default cap
// (1,000). The first 1,000 identities keep their label; the rest count under
// peer_identity="other", and palisade_peer_identities_folded_total says how
// many were folded.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/integration/proxy_fixture.h"
#include "tests/util/loopback.h"

namespace palisade::testing {
namespace {

constexpr int kClients = 5000;
constexpr int kDefaultCap = 1000;
constexpr int kThreads = 2;

// One full mTLS handshake as `leaf`, one byte echoed through the proxy, then
// close. True when the byte came back.
bool HandshakeAs(uint16_t port, const Credential& leaf, X509* intermediate) {
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);
  // The proxy's identity is not under test here.
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  bssl::UniquePtr<SSL> ssl(SSL_new(ctx.get()));
  if (!SSL_use_certificate(ssl.get(), leaf.x509()) ||
      !SSL_use_PrivateKey(ssl.get(), leaf.key.get()) ||
      !SSL_add1_chain_cert(ssl.get(), intermediate)) {
    return false;
  }
  const int fd = ConnectLoopback(port, absl::Seconds(20));
  bool ok = fd >= 0;
  if (ok) {
    SSL_set_fd(ssl.get(), fd);
    char c = 0;
    ok = SSL_connect(ssl.get()) == 1 && SSL_write(ssl.get(), "x", 1) == 1 &&
         SSL_read(ssl.get(), &c, 1) == 1 && c == 'x';
    SSL_shutdown(ssl.get());
  }
  close(fd);
  return ok;
}

class ObservabilityCardinalityTest : public TwoHopMesh {};

TEST_F(ObservabilityCardinalityTest, PeerIdentitySeriesStayWithinTheDefaultCap) {
  // Inbound "in" without an authorization block: any peer of the trust
  // domain is allowed. No metrics section: the default cap.
  ProxyYaml config = IdentityConfig("backend", kBackendId);
  config.AddInbound("in", echo_->address());
  StartInbound(config);
  const uint16_t port = inbound_port_;

  // 5,000 SVIDs, one key pair (signing is cheap, key generation less so).
  const absl::Time start = absl::Now();
  bssl::UniquePtr<EVP_PKEY> key = GenerateKey(KeyType::kEcP256);
  std::vector<Credential> leaves;
  leaves.reserve(kClients);
  for (int i = 0; i < kClients; ++i) {
    CertSpec spec = pki().LeafSpec(absl::StrCat("/ns/load/sa/client-", i));
    spec.key = key.get();
    leaves.push_back(pki().IssueLeaf(spec));  // takes its own reference to the key
  }
  const absl::Time issued = absl::Now();

  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kClients; i += kThreads) {
        if (!HandshakeAs(port, leaves[i], pki().intermediate().x509())) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const absl::Time handshaken = absl::Now();
  ASSERT_EQ(failures.load(), 0);

  std::string metrics;
  ASSERT_TRUE(WaitFor(
      [&] {
        metrics = inbound_->Metrics();
        return MetricSum(metrics, "palisade_handshakes_total", {{"result", "success"}}) >= kClients;
      },
      absl::Seconds(30)))
      << MetricSum(metrics, "palisade_handshakes_total", {{"result", "success"}});

  std::set<std::string> peer_labels;
  for (absl::string_view line : absl::StrSplit(metrics, '\n')) {
    if (!absl::StartsWith(line, "palisade_handshakes_total{")) continue;
    const size_t at = line.find("peer_identity=\"");
    ASSERT_NE(at, absl::string_view::npos) << line;
    const size_t from = at + 15;
    const std::string peer(line.substr(from, line.find('"', from) - from));
    // "none": no peer, e.g. the failure series that exist at 0 from the start.
    if (peer != "none") peer_labels.insert(peer);
  }
  EXPECT_EQ(peer_labels.size(), kDefaultCap + 1u);
  EXPECT_EQ(peer_labels.count("other"), 1u);
  EXPECT_EQ(MetricSum(metrics, "palisade_handshakes_total", {{"peer_identity", "other"}}),
            kClients - kDefaultCap);
  EXPECT_EQ(MetricValue(metrics, "palisade_peer_identities_folded_total"), kClients - kDefaultCap);
  EXPECT_EQ(MetricValue(metrics, "palisade_peer_identities"), kDefaultCap);
  EXPECT_EQ(MetricSum(metrics, "palisade_handshakes_total"), kClients);
  // For the report: where the time goes.
  std::cout << "issued " << kClients << " SVIDs in " << (issued - start) << "; handshakes took "
            << (handshaken - issued) << "\n";
}

}  // namespace
}  // namespace palisade::testing
