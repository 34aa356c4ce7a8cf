// The verdicts on real peers: each check runs inside BoringSSL's verify
// callback of an in-process handshake, as every endpoint runs it.
#include "runtime/verify/peer_verifier.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "identity/authz_policy.h"
#include "runtime/tls/connection_hooks.h"
#include "tests/util/tls_test_support.h"

namespace palisade::verify {
namespace {

using identity::VerifyReason;
using testing::ClientContext;
using testing::Credential;
using ::testing::HasSubstr;
using testing::ServerContext;
using testing::TestPki;

// The server side of a handshake asks the verifier about its client.
class Judge : public tls::TlsConnectionHooks {
 public:
  explicit Judge(PeerCheck check) : check_(std::move(check)) {}
  ssl_verify_result_t VerifyPeer(SSL* ssl, uint8_t* out_alert) override {
    ++calls;
    verdict = verify::VerifyPeer(ssl, check_);
    return ToVerifyResult(verdict, out_alert);
  }
  PeerCheck check_;
  PeerVerdict verdict;
  int calls = 0;
};

// Accepts any server: these tests judge clients.
class AcceptAll : public tls::TlsConnectionHooks {
 public:
  ssl_verify_result_t VerifyPeer(SSL*, uint8_t*) override { return ssl_verify_ok; }
};

class PeerVerifierTest : public ::testing::Test {
 protected:
  PeerVerifierTest() : pki_(Options("cluster.local")), server_(pki_.IssueLeaf("/server")) {
    bundles_ = testing::BundleOf(pki_);
  }

  static TestPki::Options Options(const std::string& domain) {
    TestPki::Options options;
    options.trust_domain = domain;
    return options;
  }

  PeerCheck Check(tls::PeerCertificates mode = tls::PeerCertificates::kRequired) {
    PeerCheck check;
    check.bundles = &bundles_;
    check.verify.now = absl::Now();
    check.verify.peer_role = identity::PeerRole::kClient;
    check.certificate_optional = mode == tls::PeerCertificates::kOptional;
    return check;
  }

  // One handshake of a client presenting `client` (from `client_pki`) to a
  // server judging with `judge`; true when it completed.
  bool Connect(const TestPki& client_pki, const Credential* client, Judge* judge,
               tls::PeerCertificates mode = tls::PeerCertificates::kRequired) {
    auto [a, b] = testing::SocketPair();
    auto server_ctx = ServerContext(pki_, server_, mode);
    auto client_ctx = ClientContext(client_pki, client);
    bssl::UniquePtr<SSL> server_ssl(SSL_new(server_ctx.get()));
    bssl::UniquePtr<SSL> client_ssl(SSL_new(client_ctx.get()));
    SSL_set_accept_state(server_ssl.get());
    SSL_set_connect_state(client_ssl.get());
    tls::AttachHooks(server_ssl.get(), judge);
    tls::AttachHooks(client_ssl.get(), &accept_all_);
    tls::TlsTransport server_side(std::move(a), std::move(server_ssl));
    tls::TlsTransport client_side(std::move(b), std::move(client_ssl));
    return testing::HandshakeBoth(client_side, server_side);
  }

  TestPki pki_;
  Credential server_;
  identity::TrustBundleSet bundles_;
  AcceptAll accept_all_;
};

TEST_F(PeerVerifierTest, PassesAValidSvidAndNamesIt) {
  const Credential client = pki_.IssueLeaf("/ns/shop/sa/cart");
  Judge judge(Check());
  ASSERT_TRUE(Connect(pki_, &client, &judge));
  ASSERT_TRUE(judge.verdict.ok()) << judge.verdict.detail;
  ASSERT_TRUE(judge.verdict.svid.has_value());
  EXPECT_EQ(judge.verdict.svid->spiffe_id.ToString(), "spiffe://cluster.local/ns/shop/sa/cart");
  EXPECT_FALSE(judge.verdict.anonymous());
}

TEST_F(PeerVerifierTest, RefusesAChainFromARootTheBundleDoesNotHold) {
  TestPki stranger(Options("cluster.local"));
  const Credential client = stranger.IssueLeaf("/ns/shop/sa/cart");
  Judge judge(Check());
  EXPECT_FALSE(Connect(stranger, &client, &judge));
  EXPECT_EQ(judge.verdict.reason, VerifyReason::kUntrustedChain);
  EXPECT_FALSE(judge.verdict.svid.has_value());
}

TEST_F(PeerVerifierTest, LetsAClientWithoutACertificateInOnlyWhenThatIsOptional) {
  Judge optional(Check(tls::PeerCertificates::kOptional));
  ASSERT_TRUE(Connect(pki_, nullptr, &optional, tls::PeerCertificates::kOptional));
  // BoringSSL may skip the callback when nothing was sent; judge the absence.
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
  bssl::UniquePtr<SSL> bare(SSL_new(ctx.get()));
  PeerVerdict absent = VerifyPeer(bare.get(), Check(tls::PeerCertificates::kOptional));
  EXPECT_TRUE(absent.ok());
  EXPECT_TRUE(absent.anonymous());
  PeerVerdict required = VerifyPeer(bare.get(), Check());
  EXPECT_EQ(required.reason, VerifyReason::kNoCertificate);
}

TEST_F(PeerVerifierTest, RefusesAPeerThePolicyDoesNotAllowButNamesIt) {
  const Credential client = pki_.IssueLeaf("/ns/shop/sa/intruder");
  auto policy =
      identity::AuthorizationPolicy::Create({"spiffe://cluster.local/ns/shop/sa/cart"}, {}, {});
  ASSERT_TRUE(policy.ok());
  PeerCheck check = Check();
  check.policy = &*policy;
  Judge judge(check);
  EXPECT_FALSE(Connect(pki_, &client, &judge));
  EXPECT_EQ(judge.verdict.reason, VerifyReason::kNotAuthorized);
  ASSERT_TRUE(judge.verdict.svid.has_value());
  EXPECT_EQ(judge.verdict.svid->spiffe_id.ToString(), "spiffe://cluster.local/ns/shop/sa/intruder");
  EXPECT_THAT(judge.verdict.detail, HasSubstr("intruder is not authorized"));

  check.authorizer = "listener out";
  check.expected = "spiffe://cluster.local/ns/shop/sa/cart";
  Judge worded(check);
  EXPECT_FALSE(Connect(pki_, &client, &worded));
  EXPECT_EQ(worded.verdict.detail,
            "spiffe://cluster.local/ns/shop/sa/intruder is not allowed by listener out, "
            "expected spiffe://cluster.local/ns/shop/sa/cart");
}

TEST_F(PeerVerifierTest, WithoutAPolicyAllowsOnlyTheDefaultTrustDomain) {
  TestPki partner(Options("partner.example"));
  identity::TrustBundleSet both = testing::BundleOf(pki_, partner);
  const Credential client = partner.IssueLeaf("/ns/a/sa/b");
  PeerCheck check = Check();
  check.bundles = &both;
  check.default_trust_domain = "cluster.local";
  Judge judge(check);
  EXPECT_FALSE(Connect(partner, &client, &judge));
  EXPECT_EQ(judge.verdict.reason, VerifyReason::kNotAuthorized);

  check.default_trust_domain = "partner.example";
  Judge same_domain(check);
  EXPECT_TRUE(Connect(partner, &client, &same_domain));
  EXPECT_TRUE(same_domain.verdict.ok());
}

TEST_F(PeerVerifierTest, PeerAllowedIsTheOneRuleForAdmissionAndReauthentication) {
  const identity::SpiffeId cart = *identity::SpiffeId::Parse("spiffe://td/ns/shop/sa/cart");
  auto policy = identity::AuthorizationPolicy::Create({}, {}, {"spiffe://td/ns/shop"});
  ASSERT_TRUE(policy.ok());
  EXPECT_TRUE(PeerAllowed(&*policy, "other", cart));
  EXPECT_TRUE(PeerAllowed(nullptr, "td", cart));
  EXPECT_FALSE(PeerAllowed(nullptr, "other", cart));
  EXPECT_TRUE(PeerAllowed(nullptr, "", cart));
  identity::AuthorizationPolicy nobody;
  EXPECT_FALSE(PeerAllowed(&nobody, "td", cart));
}

TEST_F(PeerVerifierTest, ReusesACachedChainOnlyUnderTheSameBundleGeneration) {
  const Credential client = pki_.IssueLeaf("/ns/shop/sa/cart");
  VerifiedChainCache cache;
  PeerCheck check = Check();
  check.cache = &cache;
  check.bundle_generation = 1;
  Judge first(check);
  ASSERT_TRUE(Connect(pki_, &client, &first));
  EXPECT_EQ(cache.size(), 1u);

  // The bundle changed under the same generation number would be a bug; a
  // new generation must check again, and an empty bundle then refuses.
  identity::TrustBundleSet empty;
  check.bundles = &empty;
  Judge same_generation(check);
  EXPECT_TRUE(Connect(pki_, &client, &same_generation));  // served from the cache
  check.bundle_generation = 2;
  Judge new_generation(check);
  EXPECT_FALSE(Connect(pki_, &client, &new_generation));
  EXPECT_EQ(new_generation.verdict.reason, VerifyReason::kWrongTrustDomain);
}

TEST_F(PeerVerifierTest, ACachedChainIsStillCheckedForExpiry) {
  const Credential client = pki_.IssueLeaf("/ns/shop/sa/cart");
  VerifiedChainCache cache;
  PeerCheck check = Check();
  check.cache = &cache;
  Judge first(check);
  ASSERT_TRUE(Connect(pki_, &client, &first));
  check.verify.now = absl::Now() + absl::Hours(24 * 400);  // past every notAfter
  Judge later(check);
  EXPECT_FALSE(Connect(pki_, &client, &later));
  EXPECT_EQ(later.verdict.reason, VerifyReason::kExpired);
}

TEST_F(PeerVerifierTest, RefusesARevokedPeerBeforeAuthorizationAndNamesIt) {
  const Credential revoked = pki_.IssueLeaf("/ns/shop/sa/revoked");
  const Credential other = pki_.IssueLeaf("/ns/shop/sa/cart");
  const identity::DenyList deny_list(
      7, {{"spiffe://cluster.local/ns/shop/sa/revoked", absl::Now() + absl::Hours(1)}});
  PeerCheck check = Check();
  check.deny_list = &deny_list;
  Judge judge(check);
  EXPECT_FALSE(Connect(pki_, &revoked, &judge));
  EXPECT_EQ(judge.verdict.reason, VerifyReason::kRevoked);
  ASSERT_TRUE(judge.verdict.svid.has_value());
  EXPECT_THAT(judge.verdict.detail, HasSubstr("revoked is revoked"));
  EXPECT_THAT(judge.verdict.detail, HasSubstr("version 7"));
  // Everyone else passes as before.
  Judge passes(check);
  EXPECT_TRUE(Connect(pki_, &other, &passes));
  EXPECT_TRUE(passes.verdict.ok()) << passes.verdict.detail;
}

}  // namespace
}  // namespace palisade::verify
