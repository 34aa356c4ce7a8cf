// Handshakes driven by a real event loop over a socketpair: both sides
// judge each other, refusals carry the verifier's reason, a silent peer runs
// into the deadline, and a resumed session is judged again.
#include "runtime/tls/handshaker.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/pool.h>

#include <memory>
#include <optional>

#include "identity/authz_policy.h"
#include "runtime/event/event_loop.h"
#include "runtime/tls/context_setup.h"
#include "tests/util/tls_test_support.h"

namespace palisade::tls {
namespace {

using testing::Credential;
using ::testing::HasSubstr;
using testing::TestPki;

class HandshakerTest : public ::testing::Test {
 protected:
  HandshakerTest()
      : pki_(Options()),
        server_leaf_(pki_.IssueLeaf("/ns/a/sa/server")),
        client_leaf_(pki_.IssueLeaf("/ns/a/sa/client")),
        bundles_(testing::BundleOf(pki_)),
        ring_(std::make_unique<TicketKeyRing>(absl::Hours(1))) {
    loop_ = *event::EventLoop::Create();
    ContextOptions server;
    server.role = Role::kServer;
    server.chain = pki_.Chain(server_leaf_);
    server.key = server_leaf_.key.get();
    server.ticket_keys = ring_.get();
    server_ctx_ = *NewContext(server);
    ContextOptions client;
    client.role = Role::kClient;
    client.chain = pki_.Chain(client_leaf_);
    client.key = client_leaf_.key.get();
    client.client_sessions = true;
    client_ctx_ = *NewContext(client);
  }

  static TestPki::Options Options() {
    TestPki::Options options;
    options.trust_domain = "cluster.local";
    return options;
  }

  Handshaker::Options SideOptions(identity::PeerRole peer_role,
                                  const identity::AuthorizationPolicy* policy) {
    Handshaker::Options options;
    options.timeout = absl::Seconds(5);
    options.check.bundles = &bundles_;
    options.check.verify.peer_role = peer_role;
    options.check.policy = policy;
    return options;
  }

  struct Outcome {
    std::optional<HandshakeResult> client;
    std::optional<HandshakeResult> server;
    bssl::UniquePtr<SSL_SESSION> session;  // the ticket the client received
  };

  // One connection: both handshakes on the loop until both ended (or the
  // server alone, when `client_silent`), then one byte from the server so a
  // TLS 1.3 ticket reaches the client.
  Outcome Connect(const identity::AuthorizationPolicy* server_policy, SSL_SESSION* offer,
                  bool client_silent = false, absl::Duration server_timeout = absl::Seconds(5)) {
    Outcome outcome;
    auto [a, b] = testing::SocketPair();
    bssl::UniquePtr<SSL> server_ssl(SSL_new(server_ctx_.get()));
    bssl::UniquePtr<SSL> client_ssl(SSL_new(client_ctx_.get()));
    SSL_set_accept_state(server_ssl.get());
    SSL_set_connect_state(client_ssl.get());
    if (offer != nullptr) SSL_set_session(client_ssl.get(), offer);
    TlsTransport server(std::move(a), std::move(server_ssl));
    TlsTransport client(std::move(b), std::move(client_ssl));
    auto finish = [&] {
      if (outcome.server && (client_silent || outcome.client)) loop_->Stop();
    };
    Handshaker::Options server_options = SideOptions(identity::PeerRole::kClient, server_policy);
    server_options.timeout = server_timeout;
    server_options.check.certificate_optional = server_certificate_optional_;
    Handshaker server_side(loop_.get(), &server, server_options,
                           {[&](const HandshakeResult& r) {
                              outcome.server = r;
                              finish();
                            },
                            nullptr});
    Handshaker client_side(
        loop_.get(), &client, SideOptions(identity::PeerRole::kServer, nullptr),
        {[&](const HandshakeResult& r) {
           outcome.client = r;
           finish();
         },
         [&](bssl::UniquePtr<SSL_SESSION> s) { outcome.session = std::move(s); }});
    event::FdWatcher server_watch(loop_.get(), server.fd(),
                                  [&](bool, bool) { server_side.OnReadiness(); });
    std::optional<event::FdWatcher> client_watch;
    if (!client_silent) {
      client_watch.emplace(loop_.get(), client.fd(),
                           [&](bool, bool) { client_side.OnReadiness(); });
    }
    event::Timer guard(loop_.get(), [&] { loop_->Stop(); });
    guard.Arm(absl::Seconds(20));
    server_side.Start();
    if (!client_silent) client_side.Start();
    loop_->Run();
    if (outcome.server && outcome.server->ok && outcome.client && outcome.client->ok) {
      char byte = 'x';
      server.Write(&byte, 1);
      // A socketpair: the records are there at once; the ticket comes first.
      for (int i = 0; i < 100 && client.Read(&byte, 1).status != net::IoStatus::kOk; ++i) {
      }
    }
    return outcome;
  }

  bool server_certificate_optional_ = false;
  TestPki pki_;
  Credential server_leaf_;
  Credential client_leaf_;
  identity::TrustBundleSet bundles_;
  std::unique_ptr<TicketKeyRing> ring_;
  std::unique_ptr<event::EventLoop> loop_;
  bssl::UniquePtr<SSL_CTX> server_ctx_;
  bssl::UniquePtr<SSL_CTX> client_ctx_;
};

TEST_F(HandshakerTest, CompletesBothSidesAndEachNamesItsPeer) {
  Outcome o = Connect(nullptr, nullptr);
  ASSERT_TRUE(o.server.has_value() && o.client.has_value());
  ASSERT_TRUE(o.server->ok) << o.server->reason << ": " << o.server->detail;
  ASSERT_TRUE(o.client->ok) << o.client->reason << ": " << o.client->detail;
  EXPECT_EQ(o.server->reason, "ok");
  EXPECT_EQ(o.server->peer.svid->spiffe_id.ToString(), "spiffe://cluster.local/ns/a/sa/client");
  EXPECT_EQ(o.client->peer.svid->spiffe_id.ToString(), "spiffe://cluster.local/ns/a/sa/server");
  EXPECT_FALSE(o.server->resumed);
}

TEST_F(HandshakerTest, FailsWithTheVerifierReasonAndStillNamesTheRefusedPeer) {
  auto only_cart =
      identity::AuthorizationPolicy::Create({"spiffe://cluster.local/ns/a/sa/cart"}, {}, {});
  ASSERT_TRUE(only_cart.ok());
  Outcome o = Connect(&*only_cart, nullptr);
  ASSERT_TRUE(o.server.has_value());
  EXPECT_FALSE(o.server->ok);
  EXPECT_EQ(o.server->reason, "not_authorized");
  ASSERT_TRUE(o.server->peer.svid.has_value());
  EXPECT_EQ(o.server->peer.svid->spiffe_id.ToString(), "spiffe://cluster.local/ns/a/sa/client");
}

TEST_F(HandshakerTest, GivesUpOnASilentPeerAtTheDeadline) {
  Outcome o = Connect(nullptr, nullptr, /*client_silent=*/true, absl::Milliseconds(200));
  ASSERT_TRUE(o.server.has_value());
  EXPECT_FALSE(o.server->ok);
  EXPECT_EQ(o.server->reason, "timeout");
  EXPECT_GE(o.server->duration, absl::Milliseconds(150));
}

TEST_F(HandshakerTest, ResumesAndJudgesTheResumedPeerAgainstTodaysPolicy) {
  Outcome first = Connect(nullptr, nullptr);
  ASSERT_TRUE(first.server && first.server->ok);
  ASSERT_NE(first.session, nullptr) << "no ticket reached the client";

  Outcome resumed = Connect(nullptr, first.session.get());
  ASSERT_TRUE(resumed.server && resumed.server->ok) << resumed.server->detail;
  EXPECT_TRUE(resumed.server->resumed);
  EXPECT_EQ(resumed.server->peer.svid->spiffe_id.ToString(),
            "spiffe://cluster.local/ns/a/sa/client");

  auto nobody = identity::AuthorizationPolicy::Create({"spiffe://cluster.local/x"}, {}, {});
  ASSERT_TRUE(nobody.ok());
  Outcome refused = Connect(&*nobody, first.session.get());
  ASSERT_TRUE(refused.server.has_value());
  EXPECT_FALSE(refused.server->ok);
  EXPECT_EQ(refused.server->reason, "not_authorized");
  EXPECT_THAT(refused.server->detail, HasSubstr("resumed session: "));
}

// Contexts keep peer certificates as bytes (idle memory, issue 18) and parse
// them on demand: a chain whose intermediate BoringSSL passes on but X509
// cannot parse is a malformed chain, even where anonymous clients may enter,
// never "no certificate".
TEST_F(HandshakerTest, AnUnparsableIntermediateIsMalformedNotAnonymous) {
  server_certificate_optional_ = true;
  uint8_t* der = nullptr;
  const int length = i2d_X509(client_leaf_.cert.get(), &der);
  ASSERT_GT(length, 0);
  bssl::UniquePtr<uint8_t> der_owner(der);
  static const uint8_t kGarbage[] = {0x30, 0x03, 0x02, 0x01, 0x01};  // DER, not a certificate
  bssl::UniquePtr<CRYPTO_BUFFER> leaf(CRYPTO_BUFFER_new(der, length, nullptr));
  bssl::UniquePtr<CRYPTO_BUFFER> garbage(CRYPTO_BUFFER_new(kGarbage, sizeof(kGarbage), nullptr));
  CRYPTO_BUFFER* chain[] = {leaf.get(), garbage.get()};
  ASSERT_TRUE(
      SSL_CTX_set_chain_and_key(client_ctx_.get(), chain, 2, client_leaf_.key.get(), nullptr));
  Outcome o = Connect(nullptr, nullptr);
  ASSERT_TRUE(o.server.has_value());
  EXPECT_FALSE(o.server->ok) << "accepted as " << o.server->peer.PeerId();
  EXPECT_EQ(o.server->reason, "malformed_certificate") << o.server->detail;
}

}  // namespace
}  // namespace palisade::tls
