// Handshakes between two TlsContexts over a socketpair: verification goes
// through the connection's hooks, resumption works with the ticket keys, and
// keys that rotated away no longer resume.
#include "runtime/tls/tls_context.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <memory>

#include "runtime/net/unique_fd.h"
#include "runtime/tls/tls_transport.h"
#include "runtime/verify/peer_chain.h"
#include "tests/util/test_pki.h"

namespace palisade::tls {
namespace {

using testing::Credential;
using testing::TestPki;

// Accepts or refuses every peer, and keeps the client's new session.
class Hooks : public TlsConnectionHooks {
 public:
  explicit Hooks(bool accept) : accept_(accept) {}
  ssl_verify_result_t VerifyPeer(SSL* ssl, uint8_t* out_alert) override {
    ++verified_;
    saw_chain_ = verify::PeerChainOf(ssl) != nullptr;
    if (accept_) return ssl_verify_ok;
    *out_alert = SSL_AD_ACCESS_DENIED;
    return ssl_verify_invalid;
  }
  void OnNewClientSession(bssl::UniquePtr<SSL_SESSION> session) override {
    session_ = std::move(session);
  }
  bool accept_;
  int verified_ = 0;
  bool saw_chain_ = false;
  bssl::UniquePtr<SSL_SESSION> session_;
};

class TlsContextTest : public ::testing::Test {
 protected:
  TlsContextTest() {
    TestPki::Options options;
    options.trust_domain = "cluster.local";
    pki_ = TestPki(options);
    leaf_ = pki_.IssueLeaf("/ns/a/sa/b");
  }

  std::shared_ptr<const TlsContext> Context(std::shared_ptr<TicketKeyRing> ring) {
    auto context = TlsContext::Create(pki_.Chain(leaf_), leaf_.key.get(), TlsSettings{}, ring);
    EXPECT_TRUE(context.ok()) << context.status();
    return *context;
  }

  // Drives both handshakes to completion (or failure) on a socketpair; a
  // client session, if given, is offered. Exchanges one byte each way, so
  // TLS 1.3 tickets reach the client.
  bool Handshake(const TlsContext& server_ctx, const TlsContext& client_ctx, Hooks* server_hooks,
                 Hooks* client_hooks, SSL_SESSION* offer, bool* resumed) {
    std::unique_ptr<TlsTransport> server, client;
    return Connect(server_ctx, client_ctx, server_hooks, client_hooks, offer, resumed, &server,
                   &client);
  }

  // Handshake(), keeping both ends open for the caller.
  bool Connect(const TlsContext& server_ctx, const TlsContext& client_ctx, Hooks* server_hooks,
               Hooks* client_hooks, SSL_SESSION* offer, bool* resumed,
               std::unique_ptr<TlsTransport>* server_out,
               std::unique_ptr<TlsTransport>* client_out) {
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    auto server_ssl = server_ctx.NewServerSsl();
    auto client_ssl = client_ctx.NewClientSsl();
    AttachHooks(server_ssl.get(), server_hooks);
    AttachHooks(client_ssl.get(), client_hooks);
    if (offer != nullptr) SSL_set_session(client_ssl.get(), offer);
    *server_out = std::make_unique<TlsTransport>(net::UniqueFd(fds[0]), std::move(server_ssl));
    *client_out = std::make_unique<TlsTransport>(net::UniqueFd(fds[1]), std::move(client_ssl));
    TlsTransport& server = **server_out;
    TlsTransport& client = **client_out;
    bool server_done = false, client_done = false;
    for (int i = 0; i < 100 && !(server_done && client_done); ++i) {
      if (!client_done) {
        const net::IoResult r = client.Handshake();
        if (r.status == net::IoStatus::kError) return false;
        client_done = r.status == net::IoStatus::kOk;
      }
      if (!server_done) {
        const net::IoResult r = server.Handshake();
        if (r.status == net::IoStatus::kError) return false;
        server_done = r.status == net::IoStatus::kOk;
      }
    }
    if (!server_done || !client_done) return false;
    *resumed = SSL_session_reused(client.ssl());
    char byte = 'x';
    EXPECT_EQ(server.Write(&byte, 1).status, net::IoStatus::kOk);
    for (int i = 0; i < 10; ++i) {
      if (client.Read(&byte, 1).status == net::IoStatus::kOk) break;
    }
    return true;
  }

  TestPki pki_;
  Credential leaf_;
};

TEST_F(TlsContextTest, BothSidesHandTheirPeersChainToTheHooks) {
  auto ring = std::make_shared<TicketKeyRing>(absl::Hours(1));
  auto ctx = Context(ring);
  Hooks server(true), client(true);
  bool resumed = false;
  ASSERT_TRUE(Handshake(*ctx, *ctx, &server, &client, nullptr, &resumed));
  EXPECT_EQ(server.verified_, 1);
  EXPECT_EQ(client.verified_, 1);
  EXPECT_TRUE(server.saw_chain_);
  EXPECT_FALSE(resumed);
}

// Idle memory (issue 18): an established connection drops its copy of the
// handshake configuration (own chain, key, cipher lists) and keeps no parsed
// X509s, yet its peer's chain can still be read, and the peer's certificates
// (the same client, connected twice) are one copy.
TEST_F(TlsContextTest, EstablishedConnectionsShedTheirConfigAndSharePeerCertificates) {
  auto ctx = Context(std::make_shared<TicketKeyRing>(absl::Hours(1)));
  Hooks s1(true), c1(true), s2(true), c2(true);
  std::unique_ptr<TlsTransport> server1, client1, server2, client2;
  bool resumed = false;
  ASSERT_TRUE(Connect(*ctx, *ctx, &s1, &c1, nullptr, &resumed, &server1, &client1));
  ASSERT_TRUE(Connect(*ctx, *ctx, &s2, &c2, nullptr, &resumed, &server2, &client2));
  for (TlsTransport* end : {server1.get(), client1.get()}) {
    // BoringSSL answers -1 once the per-connection configuration is gone.
    EXPECT_EQ(SSL_get_verify_mode(end->ssl()), -1)
        << (SSL_is_server(end->ssl()) ? "server" : "client");
    // Only the certificates' bytes stay; their parsed form is made on demand.
    EXPECT_EQ(SSL_get_peer_full_cert_chain(end->ssl()), nullptr) << "a parsed chain is kept";
    bssl::UniquePtr<STACK_OF(X509)> chain = verify::PeerChainOf(end->ssl());
    ASSERT_NE(chain, nullptr);
    ASSERT_GT(sk_X509_num(chain.get()), 0u);
    bssl::UniquePtr<X509> leaf = verify::PeerLeafOf(end->ssl());
    ASSERT_NE(leaf, nullptr);
    EXPECT_EQ(X509_cmp(leaf.get(), sk_X509_value(chain.get(), 0)), 0);
  }
  const STACK_OF(CRYPTO_BUFFER)* first = SSL_get0_peer_certificates(server1->ssl());
  const STACK_OF(CRYPTO_BUFFER)* second = SSL_get0_peer_certificates(server2->ssl());
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  ASSERT_GT(sk_CRYPTO_BUFFER_num(first), 0u);
  EXPECT_EQ(sk_CRYPTO_BUFFER_value(first, 0), sk_CRYPTO_BUFFER_value(second, 0))
      << "the client's leaf is stored twice";
}

TEST_F(TlsContextTest, HandshakeFailsWhenTheServerHookRefusesTheClient) {
  auto ctx = Context(std::make_shared<TicketKeyRing>(absl::Hours(1)));
  Hooks server(false), client(true);
  bool resumed;
  EXPECT_FALSE(Handshake(*ctx, *ctx, &server, &client, nullptr, &resumed));
}

TEST_F(TlsContextTest, ResumesWithATicketFromTheSameKeyRing) {
  auto ring = std::make_shared<TicketKeyRing>(absl::Hours(1));
  auto ctx = Context(ring);
  Hooks server(true), client(true);
  bool resumed = false;
  ASSERT_TRUE(Handshake(*ctx, *ctx, &server, &client, nullptr, &resumed));
  ASSERT_NE(client.session_, nullptr) << "no ticket reached the client";
  Hooks server2(true), client2(true);
  ASSERT_TRUE(Handshake(*ctx, *ctx, &server2, &client2, client.session_.get(), &resumed));
  EXPECT_TRUE(resumed);
  EXPECT_EQ(server2.verified_, 0);  // resumption skips the hook: callers re-check
}

TEST_F(TlsContextTest, DoesNotResumeAfterTheTicketKeysRotatedTwice) {
  absl::Time now = absl::Now();
  auto ring = std::make_shared<TicketKeyRing>(absl::Minutes(10), [&now] { return now; });
  auto ctx = Context(ring);
  Hooks server(true), client(true);
  bool resumed = false;
  ASSERT_TRUE(Handshake(*ctx, *ctx, &server, &client, nullptr, &resumed));
  ASSERT_NE(client.session_, nullptr);

  now += absl::Minutes(11);  // one rotation: the old key still decrypts
  Hooks s1(true), c1(true);
  ASSERT_TRUE(Handshake(*ctx, *ctx, &s1, &c1, client.session_.get(), &resumed));
  EXPECT_TRUE(resumed);

  now += absl::Minutes(11);  // a second rotation: the first key is gone
  Hooks s2(true), c2(true);
  ASSERT_TRUE(Handshake(*ctx, *ctx, &s2, &c2, client.session_.get(), &resumed));
  EXPECT_FALSE(resumed);
}

TEST_F(TlsContextTest, NewKeyRingMeansNoResumption) {
  auto ctx_a = Context(std::make_shared<TicketKeyRing>(absl::Hours(1)));
  auto ctx_b = Context(std::make_shared<TicketKeyRing>(absl::Hours(1)));
  Hooks server(true), client(true);
  bool resumed = false;
  ASSERT_TRUE(Handshake(*ctx_a, *ctx_a, &server, &client, nullptr, &resumed));
  ASSERT_NE(client.session_, nullptr);
  Hooks s(true), c(true);
  ASSERT_TRUE(Handshake(*ctx_b, *ctx_b, &s, &c, client.session_.get(), &resumed));
  EXPECT_FALSE(resumed);
}

TEST_F(TlsContextTest, RefusesAKeyThatDoesNotMatchTheLeaf) {
  const Credential other = pki_.IssueLeaf("/ns/a/sa/c");
  auto context = TlsContext::Create(pki_.Chain(leaf_), other.key.get(), TlsSettings{}, nullptr);
  ASSERT_FALSE(context.ok());
  EXPECT_NE(context.status().message().find("does not match"), std::string::npos);
}

TEST_F(TlsContextTest, NeverNegotiatesBelowTls12EvenIfAskedTo) {
  TlsSettings settings;
  settings.min_version = TLS1_VERSION;
  auto context = TlsContext::Create(pki_.Chain(leaf_), leaf_.key.get(), settings, nullptr);
  ASSERT_TRUE(context.ok());
  EXPECT_EQ(SSL_CTX_get_min_proto_version((*context)->server_ctx()), TLS1_2_VERSION);
}

}  // namespace
}  // namespace palisade::tls
