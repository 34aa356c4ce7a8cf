// A policy reloaded while an inbound connection is still being set up: its
// handshake judged the peer by the policy the reload replaced, and the reload
// itself looked only at established connections, so the worker judges the
// connection again once it is established.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "identity/authz_policy.h"
#include "proxy/credentials/credential_snapshot.h"
#include "proxy/forward/connection_host.h"
#include "proxy/forward/listener_context.h"
#include "proxy/server/worker.h"
#include "runtime/net/sockets.h"
#include "runtime/sync/mutex.h"
#include "runtime/tls/connection_hooks.h"
#include "tests/util/process.h"
#include "tests/util/tls_test_support.h"

namespace palisade::server {
namespace {

using testing::Credential;
using testing::TestPki;

class ClosedConnections : public forward::ConnectionObserver {
 public:
  void OnAccepted(const forward::ListenerContext&) override {}
  void OnRefused(const forward::ListenerContext&, const std::string&) override {}
  void OnHandshake(const forward::ListenerContext&, const forward::HandshakeOutcome&) override {}
  void OnClosed(const forward::ListenerContext&,
                const forward::ConnectionSummary& summary) override {
    sync::MutexLock lock(&mu_);
    closed_.push_back(summary);
  }
  // The first closed connection's summary, once there is one.
  std::optional<forward::ConnectionSummary> WaitClosed() {
    const bool closed = testing::WaitFor(
        [&] {
          sync::MutexLock lock(&mu_);
          return !closed_.empty();
        },
        absl::Seconds(20));
    sync::MutexLock lock(&mu_);
    if (!closed) return std::nullopt;
    return closed_.front();
  }

 private:
  sync::Mutex mu_;
  std::vector<forward::ConnectionSummary> closed_ ABSL_GUARDED_BY(mu_);
};

// The test's TLS client accepts whatever server it reaches.
class AnyServer : public tls::TlsConnectionHooks {
 public:
  ssl_verify_result_t VerifyPeer(SSL*, uint8_t*) override { return ssl_verify_ok; }
};

void SetBlockingWithTimeout(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  timeval five{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &five, sizeof(five));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &five, sizeof(five));
}

class WorkerReloadTest : public ::testing::Test {
 protected:
  WorkerReloadTest()
      : pki_(PkiOptions()),
        proxy_leaf_(pki_.IssueLeaf("/ns/shop/sa/backend")),
        peer_leaf_(pki_.IssueLeaf("/ns/shop/sa/frontend")) {
    signal(SIGPIPE, SIG_IGN);
    app_ = *net::BindListener(*net::SocketAddress::Parse("127.0.0.1:0"), false);
    inbound_.name = "in";
    inbound_.label = "listener in";
    inbound_.direction = forward::Direction::kInbound;
    inbound_.forward_to = *net::LocalAddressOf(app_.get());
    worker_ = *Worker::Create(0, Worker::Options(), &observer_);
    worker_->Start();
    worker_->PublishSnapshot(Snapshot());
  }
  ~WorkerReloadTest() override { worker_->Stop(); }

  static TestPki::Options PkiOptions() {
    TestPki::Options options;
    options.trust_domain = "cluster.local";
    return options;
  }

  std::shared_ptr<const credentials::CredentialSnapshot> Snapshot() {
    credentials::CredentialMaterial material;
    for (X509* cert : pki_.Chain(proxy_leaf_)) material.chain.push_back(bssl::UpRef(cert));
    material.key = bssl::UpRef(proxy_leaf_.key);
    material.bundles = testing::BundleOf(pki_);
    credentials::SnapshotOptions options;
    options.now = absl::Now();
    auto snapshot = credentials::BuildSnapshot(std::move(material), options, nullptr);
    EXPECT_TRUE(snapshot.ok()) << snapshot.status();
    (*snapshot)->generation = 1;
    (*snapshot)->bundle_generation = 1;
    return *snapshot;
  }

  // Reloads a policy that allows nobody we know, and returns once the
  // worker has applied it (its loop runs posted work in order).
  void DenyEveryone() {
    auto policy = std::make_shared<forward::ListenerPolicy>();
    policy->policy = *identity::AuthorizationPolicy::Create({"spiffe://cluster.local/x"}, {}, {});
    worker_->UpdatePolicy(&inbound_, policy);
    absl::Notification applied;
    worker_->CountConnectionsByRoot([&](std::map<std::string, uint64_t>) { applied.Notify(); });
    ASSERT_TRUE(applied.WaitForNotificationWithTimeout(absl::Seconds(10)));
  }

  net::UniqueFd AcceptApp() {
    pollfd p{app_.get(), POLLIN, 0};
    if (poll(&p, 1, 10000) != 1) return net::UniqueFd();
    net::UniqueFd fd(accept4(app_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    SetBlockingWithTimeout(fd.get());
    return fd;
  }

  TestPki pki_;
  Credential proxy_leaf_;
  Credential peer_leaf_;
  net::UniqueFd app_;
  forward::ListenerContext inbound_;
  ClosedConnections observer_;
  AnyServer any_server_;
  std::unique_ptr<Worker> worker_;
};

TEST_F(WorkerReloadTest, AConnectionWhoseHandshakeSpansAReloadIsJudgedByTheNewPolicy) {
  auto [peer, theirs] = testing::SocketPair();
  worker_->Adopt(&inbound_, std::move(theirs), *net::SocketAddress::Parse("127.0.0.1:40000"));
  bssl::UniquePtr<SSL_CTX> context = testing::ClientContext(pki_, &peer_leaf_);
  bssl::UniquePtr<SSL> tls(SSL_new(context.get()));
  tls::AttachHooks(tls.get(), &any_server_);
  // Our ClientHello goes out, but we read nothing yet (an empty memory BIO
  // stands in for the socket's read side): once the proxy has answered, it
  // has started the handshake under the policy of the moment and waits for
  // our certificate. (Reading at once could finish a TLS 1.3 client's side
  // before the reload.)
  SetBlockingWithTimeout(peer.get());
  BIO* socket_bio = BIO_new_socket(peer.get(), BIO_NOCLOSE);
  SSL_set_bio(tls.get(), BIO_new(BIO_s_mem()), socket_bio);
  const int hello = SSL_connect(tls.get());
  ASSERT_EQ(SSL_get_error(tls.get(), hello), SSL_ERROR_WANT_READ);
  pollfd p{peer.get(), POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 10000), 1);

  DenyEveryone();
  // The handshake completes (it judges us by the policy it started with),
  // and the proxy connects to the app.
  BIO_up_ref(socket_bio);
  SSL_set0_rbio(tls.get(), socket_bio);
  ASSERT_EQ(SSL_connect(tls.get()), 1);
  net::UniqueFd app = AcceptApp();
  ASSERT_TRUE(app.valid());

  // Established under a policy that no longer allows us: closed gracefully
  // at once. The app is told its peer is done; its own end finishes it.
  char byte;
  EXPECT_EQ(read(app.get(), &byte, 1), 0) << "the connection outlived the reloaded policy";
  shutdown(app.get(), SHUT_WR);
  EXPECT_EQ(SSL_read(tls.get(), &byte, 1), 0);
  EXPECT_EQ(SSL_get_error(tls.get(), 0), SSL_ERROR_ZERO_RETURN);
  std::optional<forward::ConnectionSummary> summary = observer_.WaitClosed();
  ASSERT_TRUE(summary.has_value());
  EXPECT_EQ(summary->close_reason, "policy_changed");
  EXPECT_FALSE(summary->reset);
}

}  // namespace
}  // namespace palisade::server
