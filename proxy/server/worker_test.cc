// Connections driven through a real worker, in this process, over
// socketpairs: the inbound and outbound state machines through handshake,
// pumping, half-close, graceful close and abort, with every byte checked.
// The far ends are plain blocking sockets and BoringSSL on the test thread;
// the upstream of outbound tests is the runtime's TLS terminator.
#include "proxy/server/worker.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "identity/authz_policy.h"
#include "proxy/credentials/credential_snapshot.h"
#include "proxy/forward/connection_host.h"
#include "proxy/forward/listener_context.h"
#include "runtime/net/sockets.h"
#include "runtime/sync/mutex.h"
#include "runtime/tls/connection_hooks.h"
#include "runtime/tls/tls_terminator.h"
#include "tests/util/echo_thread.h"
#include "tests/util/process.h"
#include "tests/util/tls_test_support.h"

namespace palisade::server {
namespace {

using testing::Credential;
using ::testing::HasSubstr;
using testing::TestPki;
using testing::WaitFor;

constexpr char kPeerId[] = "spiffe://cluster.local/ns/shop/sa/frontend";

// Everything the worker reports, for the test thread to read.
class RecordingObserver : public forward::ConnectionObserver {
 public:
  void OnAccepted(const forward::ListenerContext&) override {}
  void OnRefused(const forward::ListenerContext&, const std::string& reason) override {
    sync::MutexLock lock(&mu_);
    refused_.push_back(reason);
  }
  std::vector<std::string> refused() {
    sync::MutexLock lock(&mu_);
    return refused_;
  }
  void OnHandshake(const forward::ListenerContext&,
                   const forward::HandshakeOutcome& outcome) override {
    sync::MutexLock lock(&mu_);
    handshakes_.push_back(outcome);
  }
  void OnClosed(const forward::ListenerContext&,
                const forward::ConnectionSummary& summary) override {
    sync::MutexLock lock(&mu_);
    closed_.push_back(summary);
  }
  std::vector<forward::HandshakeOutcome> handshakes() {
    sync::MutexLock lock(&mu_);
    return handshakes_;
  }
  // The first closed connection's summary, once there is one.
  std::optional<forward::ConnectionSummary> WaitClosed() {
    if (!WaitFor(
            [&] {
              sync::MutexLock lock(&mu_);
              return !closed_.empty();
            },
            absl::Seconds(20))) {
      return std::nullopt;
    }
    sync::MutexLock lock(&mu_);
    return closed_.front();
  }

 private:
  sync::Mutex mu_;
  std::vector<forward::HandshakeOutcome> handshakes_ ABSL_GUARDED_BY(mu_);
  std::vector<forward::ConnectionSummary> closed_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> refused_ ABSL_GUARDED_BY(mu_);
};

// The test's TLS client accepts whatever server it reaches: these tests
// judge the proxy's side.
class AnyServer : public tls::TlsConnectionHooks {
 public:
  ssl_verify_result_t VerifyPeer(SSL*, uint8_t*) override { return ssl_verify_ok; }
};

void SetBlockingWithTimeout(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  timeval five{5, 0};  // no read or write in these tests waits longer
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &five, sizeof(five));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &five, sizeof(five));
}

// A payload whose every byte depends on its position.
std::string Payload(size_t size, int seed) {
  std::string s(size, '\0');
  for (size_t i = 0; i < size; ++i) s[i] = static_cast<char>((i * 131 + seed * 7) & 0xff);
  return s;
}

bool WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n <= 0) return false;
    done += n;
  }
  return true;
}

// Reads until `size` bytes or EOF/error/timeout.
std::string ReadUpTo(int fd, size_t size) {
  std::string out;
  char buffer[16384];
  while (out.size() < size) {
    const ssize_t n = read(fd, buffer, std::min(sizeof(buffer), size - out.size()));
    if (n <= 0) break;
    out.append(buffer, n);
  }
  return out;
}

bool SslWriteAll(SSL* ssl, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const int n = SSL_write(ssl, data.data() + done, static_cast<int>(data.size() - done));
    if (n <= 0) return false;
    done += n;
  }
  return true;
}

// Reads until `size` bytes, or the end: *clean says whether it was a
// close_notify (as opposed to an error or a bare EOF).
std::string SslReadUpTo(SSL* ssl, size_t size, bool* clean = nullptr) {
  std::string out;
  char buffer[16384];
  while (out.size() < size) {
    const int n =
        SSL_read(ssl, buffer, static_cast<int>(std::min(sizeof(buffer), size - out.size())));
    if (n <= 0) {
      if (clean != nullptr) *clean = SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN;
      break;
    }
    out.append(buffer, n);
  }
  return out;
}

// Reloads a policy on `listener` that allows nobody these tests know.
void DenyEveryone(Worker& worker, const forward::ListenerContext* listener) {
  auto policy = std::make_shared<forward::ListenerPolicy>();
  policy->policy = *identity::AuthorizationPolicy::Create({"spiffe://cluster.local/x"}, {}, {});
  worker.UpdatePolicy(listener, policy);
}

class WorkerTest : public ::testing::Test {
 protected:
  WorkerTest()
      : pki_(PkiOptions()),
        proxy_leaf_(pki_.IssueLeaf("/ns/shop/sa/backend")),
        peer_leaf_(pki_.IssueLeaf("/ns/shop/sa/frontend")) {
    // As palisade-proxy's main() does: a peer that is gone is an EPIPE.
    signal(SIGPIPE, SIG_IGN);
    app_ = *net::BindListener(*net::SocketAddress::Parse("127.0.0.1:0"), false);
    inbound_.name = "in";
    inbound_.label = "listener in";
    inbound_.direction = forward::Direction::kInbound;
    inbound_.forward_to = *net::LocalAddressOf(app_.get());
    outbound_.name = "out";
    outbound_.label = "listener out";
    outbound_.direction = forward::Direction::kOutbound;
  }

  ~WorkerTest() override {
    if (worker_ != nullptr) worker_->Stop();
  }

  static TestPki::Options PkiOptions() {
    TestPki::Options options;
    options.trust_domain = "cluster.local";
    return options;
  }

  std::shared_ptr<const credentials::CredentialSnapshot> Snapshot() {
    return SnapshotOf(proxy_leaf_, 1, nullptr);
  }
  // `leaf`'s snapshot as generation `generation`; tickets under `ring`.
  std::shared_ptr<const credentials::CredentialSnapshot> SnapshotOf(
      const Credential& leaf, uint64_t generation, std::shared_ptr<tls::TicketKeyRing> ring) {
    credentials::CredentialMaterial material;
    for (X509* cert : pki_.Chain(leaf)) material.chain.push_back(bssl::UpRef(cert));
    material.key = bssl::UpRef(leaf.key);
    material.bundles = testing::BundleOf(pki_);
    credentials::SnapshotOptions options;
    options.now = absl::Now();
    auto snapshot = credentials::BuildSnapshot(std::move(material), options, std::move(ring));
    EXPECT_TRUE(snapshot.ok()) << snapshot.status();
    (*snapshot)->generation = generation;
    (*snapshot)->bundle_generation = 1;
    return *snapshot;
  }

  void StartWorker(bool with_identity = true, absl::Duration grace = absl::Seconds(5),
                   absl::Duration clock_offset = absl::ZeroDuration(),
                   bool verified_chain_cache = true) {
    Worker::Options options;
    options.verified_chain_cache = verified_chain_cache;
    options.reauthentication.grace_period = grace;
    options.clock = [clock_offset] { return absl::Now() + clock_offset; };
    worker_ = *Worker::Create(0, options, &observer_);
    worker_->Start();
    if (with_identity) worker_->PublishSnapshot(Snapshot());
  }

  // Hands the worker one end of a socketpair on `listener`; returns the other.
  net::UniqueFd Adopt(const forward::ListenerContext* listener) {
    auto [ours, theirs] = testing::SocketPair();
    worker_->Adopt(listener, std::move(theirs), *net::SocketAddress::Parse("127.0.0.1:40000"));
    SetBlockingWithTimeout(ours.get());
    return std::move(ours);
  }

  // The peer proxy's side of an inbound connection: TLS with peer_leaf_.
  bssl::UniquePtr<SSL> ConnectTls(int fd) {
    client_ctx_ = testing::ClientContext(pki_, &peer_leaf_);
    bssl::UniquePtr<SSL> ssl(SSL_new(client_ctx_.get()));
    tls::AttachHooks(ssl.get(), &any_server_);
    SSL_set_fd(ssl.get(), fd);
    if (SSL_connect(ssl.get()) != 1) return nullptr;
    return ssl;
  }

  // The same peer connects three times, each a full handshake (no session
  // offered) that must verify and carry a round trip; then the worker's
  // verified-chain cache as {entries, hits}.
  std::pair<size_t, uint64_t> ThreeHandshakesThenCountCache() {
    for (int i = 0; i < 3; ++i) {
      net::UniqueFd peer = Adopt(&inbound_);
      bssl::UniquePtr<SSL> tls = ConnectTls(peer.get());
      EXPECT_NE(tls, nullptr) << "handshake " << i;
      if (tls == nullptr) return {0, 0};
      EXPECT_FALSE(SSL_session_reused(tls.get()));
      net::UniqueFd app = AcceptApp();
      EXPECT_TRUE(app.valid()) << "handshake " << i;
      const std::string up = Payload(64, i);
      EXPECT_TRUE(SslWriteAll(tls.get(), up));
      EXPECT_EQ(ReadUpTo(app.get(), up.size()), up);
    }
    std::pair<size_t, uint64_t> counts;
    absl::Notification counted;
    worker_->CountVerifiedChains([&](size_t entries, uint64_t hits) {
      counts = {entries, hits};
      counted.Notify();
    });
    EXPECT_TRUE(counted.WaitForNotificationWithTimeout(absl::Seconds(10)));
    return counts;
  }

  // DenyEveryone on `inbound_`, returning once the worker has applied it
  // (its loop runs posted work in order).
  void DenyEveryoneApplied() {
    DenyEveryone(*worker_, &inbound_);
    absl::Notification applied;
    worker_->CountConnectionsByRoot([&](std::map<std::string, uint64_t>) { applied.Notify(); });
    ASSERT_TRUE(applied.WaitForNotificationWithTimeout(absl::Seconds(10)));
  }

  // The app's side: the connection the proxy opened to it, or none within `wait`.
  net::UniqueFd AcceptApp(absl::Duration wait = absl::Seconds(10)) {
    pollfd p{app_.get(), POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(wait))) != 1) return net::UniqueFd();
    net::UniqueFd fd(accept4(app_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    SetBlockingWithTimeout(fd.get());
    return fd;
  }

  TestPki pki_;
  Credential proxy_leaf_;
  Credential peer_leaf_;
  net::UniqueFd app_;
  forward::ListenerContext inbound_;
  forward::ListenerContext outbound_;
  RecordingObserver observer_;
  AnyServer any_server_;
  bssl::UniquePtr<SSL_CTX> client_ctx_;
  std::unique_ptr<Worker> worker_;
};

TEST_F(WorkerTest, InboundVerifiesThePeerThenCarriesEveryByteBothWays) {
  StartWorker();
  net::UniqueFd peer = Adopt(&inbound_);
  bssl::UniquePtr<SSL> tls = ConnectTls(peer.get());
  ASSERT_NE(tls, nullptr);
  net::UniqueFd app = AcceptApp();
  ASSERT_TRUE(app.valid()) << "the app was never connected";
  for (int round = 0; round < 16; ++round) {
    const std::string up = Payload(8192, round);
    ASSERT_TRUE(SslWriteAll(tls.get(), up));
    ASSERT_EQ(ReadUpTo(app.get(), up.size()), up);
    const std::string down = Payload(8192, round + 100);
    ASSERT_TRUE(WriteAll(app.get(), down));
    ASSERT_EQ(SslReadUpTo(tls.get(), down.size()), down);
  }
  const auto handshakes = observer_.handshakes();
  ASSERT_EQ(handshakes.size(), 1u);
  EXPECT_TRUE(handshakes[0].ok);
  EXPECT_EQ(handshakes[0].peer_id, kPeerId);
}

TEST_F(WorkerTest, AReconnectingPeerSkipsTheChainChecksThroughTheVerifiedChainCache) {
  StartWorker();
  const auto [entries, hits] = ThreeHandshakesThenCountCache();
  EXPECT_EQ(entries, 1u);
  EXPECT_EQ(hits, 2u);
  const auto handshakes = observer_.handshakes();
  ASSERT_EQ(handshakes.size(), 3u);
  for (const auto& h : handshakes) EXPECT_EQ(h.peer_id, kPeerId);
}

TEST_F(WorkerTest, WithTheVerifiedChainCacheOffEveryHandshakeVerifiesInFull) {
  StartWorker(true, absl::Seconds(5), absl::ZeroDuration(), /*verified_chain_cache=*/false);
  const auto [entries, hits] = ThreeHandshakesThenCountCache();
  EXPECT_EQ(entries, 0u);
  EXPECT_EQ(hits, 0u);
  const auto handshakes = observer_.handshakes();
  ASSERT_EQ(handshakes.size(), 3u);
  for (const auto& h : handshakes) {
    EXPECT_TRUE(h.ok);
    EXPECT_EQ(h.peer_id, kPeerId);
  }
}

TEST_F(WorkerTest, TheOldestSilentConnectionMakesRoomWhenPendingHandshakesAreFull) {
  inbound_.max_pending_handshakes = 2;
  inbound_.max_pending_handshakes_per_source = 2;
  StartWorker();
  net::UniqueFd first = Adopt(&inbound_);
  net::UniqueFd second = Adopt(&inbound_);
  net::UniqueFd third = Adopt(&inbound_);  // the first makes room
  const auto closed = observer_.WaitClosed();
  ASSERT_TRUE(closed.has_value());
  EXPECT_EQ(closed->close_reason, "pending_evicted");
  char c;
  EXPECT_LE(recv(first.get(), &c, 1, 0), 0);
  // A real client still gets through, however many silent ones wait.
  net::UniqueFd peer = Adopt(&inbound_);
  bssl::UniquePtr<SSL> tls = ConnectTls(peer.get());
  ASSERT_NE(tls, nullptr);
  net::UniqueFd app = AcceptApp();
  ASSERT_TRUE(app.valid()) << "the app was never connected";
  ASSERT_TRUE(SslWriteAll(tls.get(), "ping"));
  EXPECT_EQ(ReadUpTo(app.get(), 4), "ping");
}

TEST_F(WorkerTest, OutboundConnectionsWaitingForAnIdentityArePendingToo) {
  outbound_.max_pending_handshakes = 1;
  outbound_.max_pending_handshakes_per_source = 1;
  StartWorker(/*with_identity=*/false);  // both are parked: no upstream handshake yet
  net::UniqueFd first = Adopt(&outbound_);
  net::UniqueFd second = Adopt(&outbound_);
  const auto closed = observer_.WaitClosed();
  ASSERT_TRUE(closed.has_value());
  EXPECT_EQ(closed->close_reason, "pending_evicted");
  char c;
  EXPECT_LE(recv(first.get(), &c, 1, 0), 0);
}

TEST_F(WorkerTest, MaxConnectionsCountsEstablishedConnectionsOnly) {
  inbound_.max_connections = 1;
  StartWorker();
  // Silent connections are pending, not established: none is refused.
  net::UniqueFd silent = Adopt(&inbound_);
  net::UniqueFd peer = Adopt(&inbound_);
  bssl::UniquePtr<SSL> tls = ConnectTls(peer.get());
  ASSERT_NE(tls, nullptr);
  net::UniqueFd app = AcceptApp();
  ASSERT_TRUE(app.valid());
  EXPECT_TRUE(observer_.refused().empty());
  // One established: the next is refused at accept.
  net::UniqueFd over = Adopt(&inbound_);
  ASSERT_TRUE(WaitFor([&] { return !observer_.refused().empty(); }, absl::Seconds(10)));
  EXPECT_EQ(observer_.refused().front(), "max_connections");
}

TEST_F(WorkerTest, InboundPassesAHalfCloseOnAndStillDeliversTheReply) {
  StartWorker();
  net::UniqueFd peer = Adopt(&inbound_);
  bssl::UniquePtr<SSL> tls = ConnectTls(peer.get());
  ASSERT_NE(tls, nullptr);
  net::UniqueFd app = AcceptApp();
  ASSERT_TRUE(app.valid());
  const std::string request = Payload(30000, 1);
  ASSERT_TRUE(SslWriteAll(tls.get(), request));
  SSL_shutdown(tls.get());  // close_notify: the peer is done sending
  EXPECT_EQ(ReadUpTo(app.get(), request.size() + 1), request);  // then EOF
  const std::string reply = Payload(50000, 2);
  ASSERT_TRUE(WriteAll(app.get(), reply));
  shutdown(app.get(), SHUT_WR);
  bool clean = false;
  EXPECT_EQ(SslReadUpTo(tls.get(), reply.size() + 1, &clean), reply);
  EXPECT_TRUE(clean) << "the reply did not end with close_notify";
  auto summary = observer_.WaitClosed();
  ASSERT_TRUE(summary.has_value());
  EXPECT_EQ(summary->close_reason, "done");
  EXPECT_EQ(summary->bytes_from_downstream, request.size());
  EXPECT_EQ(summary->bytes_from_upstream, reply.size());
  EXPECT_EQ(summary->peer_id, kPeerId);
}

TEST_F(WorkerTest, InboundRefusesAPeerThePolicyDeniesBeforeTheAppSeesAnything) {
  inbound_.policy =
      *identity::AuthorizationPolicy::Create({"spiffe://cluster.local/ns/shop/sa/cart"}, {}, {});
  StartWorker();
  net::UniqueFd peer = Adopt(&inbound_);
  bssl::UniquePtr<SSL> tls = ConnectTls(peer.get());  // TLS 1.3: the refusal comes after
  if (tls != nullptr) {
    char byte;
    EXPECT_LE(SSL_read(tls.get(), &byte, 1), 0);
  }
  auto summary = observer_.WaitClosed();
  ASSERT_TRUE(summary.has_value());
  EXPECT_TRUE(summary->handshake_failed);
  EXPECT_EQ(summary->close_reason, "not_authorized");
  EXPECT_EQ(summary->peer_id, kPeerId);
  EXPECT_THAT(summary->detail, HasSubstr("is not allowed by listener in"));
  EXPECT_FALSE(AcceptApp(absl::Milliseconds(200)).valid());
}

TEST_F(WorkerTest, AGracefulCloseDeliversEveryByteThenEndsCleanly) {
  StartWorker();
  net::UniqueFd peer = Adopt(&inbound_);
  bssl::UniquePtr<SSL> tls = ConnectTls(peer.get());
  ASSERT_NE(tls, nullptr);
  net::UniqueFd app = AcceptApp();
  ASSERT_TRUE(app.valid());
  // One round trip first: the connection is established (re-authentication
  // looks only at those), not still finishing its connect to the app.
  ASSERT_TRUE(SslWriteAll(tls.get(), "ping"));
  ASSERT_EQ(ReadUpTo(app.get(), 4), "ping");
  const std::string sent = Payload(64 * 1024, 3);
  ASSERT_TRUE(WriteAll(app.get(), sent));
  DenyEveryone(*worker_, &inbound_);
  // The app is told first that its peer is done; it finishes in its turn.
  char byte;
  ASSERT_EQ(read(app.get(), &byte, 1), 0);
  const std::string last = Payload(1000, 4);
  ASSERT_TRUE(WriteAll(app.get(), last));
  shutdown(app.get(), SHUT_WR);
  bool clean = false;
  EXPECT_EQ(SslReadUpTo(tls.get(), sent.size() + last.size() + 1, &clean), sent + last);
  EXPECT_TRUE(clean) << "a graceful close must end with close_notify";
  auto summary = observer_.WaitClosed();
  ASSERT_TRUE(summary.has_value());
  EXPECT_EQ(summary->close_reason, "policy_changed");
  EXPECT_FALSE(summary->reset);
}

TEST_F(WorkerTest, AGracefulCloseThatRunsOutOfTimeResetsBothSides) {
  StartWorker(/*with_identity=*/true, /*grace=*/absl::Milliseconds(300));
  net::UniqueFd peer = Adopt(&inbound_);
  bssl::UniquePtr<SSL> tls = ConnectTls(peer.get());
  ASSERT_NE(tls, nullptr);
  net::UniqueFd app = AcceptApp();
  ASSERT_TRUE(app.valid());
  ASSERT_TRUE(SslWriteAll(tls.get(), "ping"));
  ASSERT_EQ(ReadUpTo(app.get(), 4), "ping");
  DenyEveryone(*worker_, &inbound_);
  // The app never finishes: after the grace period neither side may take
  // the end for a clean one.
  bool clean = true;
  SslReadUpTo(tls.get(), 1, &clean);
  EXPECT_FALSE(clean) << "the peer saw a clean end after the grace period ran out";
  auto summary = observer_.WaitClosed();
  ASSERT_TRUE(summary.has_value());
  EXPECT_EQ(summary->close_reason, "policy_changed");
  EXPECT_TRUE(summary->reset);
  // The app was told its peer is done (every byte of it delivered); what it
  // sends now cannot be delivered, and its writes say so.
  EXPECT_EQ(ReadUpTo(app.get(), 1), "");
  const std::string reply(64 * 1024, 'r');
  EXPECT_FALSE(WriteAll(app.get(), reply) && WriteAll(app.get(), reply));
}

TEST_F(WorkerTest, BytesThePeerSendsAfterTheAppWasToldResetTheConnection) {
  StartWorker();
  net::UniqueFd peer = Adopt(&inbound_);
  bssl::UniquePtr<SSL> tls = ConnectTls(peer.get());
  ASSERT_NE(tls, nullptr);
  net::UniqueFd app = AcceptApp();
  ASSERT_TRUE(app.valid());
  ASSERT_TRUE(SslWriteAll(tls.get(), "ping"));
  ASSERT_EQ(ReadUpTo(app.get(), 4), "ping");
  DenyEveryone(*worker_, &inbound_);
  char byte;
  ASSERT_EQ(read(app.get(), &byte, 1), 0);                    // the app was told the peer is done
  ASSERT_TRUE(SslWriteAll(tls.get(), "but one more thing"));  // the peer did not know yet
  auto summary = observer_.WaitClosed();
  ASSERT_TRUE(summary.has_value());
  EXPECT_EQ(summary->close_reason, "policy_changed");  // still that close, now a reset
  EXPECT_EQ(summary->detail, "downstream_undeliverable");
  EXPECT_TRUE(summary->reset);
  bool clean = true;
  SslReadUpTo(tls.get(), 1, &clean);
  EXPECT_FALSE(clean);
}

TEST_F(WorkerTest, AnAbortEndsTheConnectionAtOnceWithAReset) {
  StartWorker();
  net::UniqueFd peer = Adopt(&inbound_);
  bssl::UniquePtr<SSL> tls = ConnectTls(peer.get());
  ASSERT_NE(tls, nullptr);
  net::UniqueFd app = AcceptApp();
  ASSERT_TRUE(app.valid());
  ASSERT_TRUE(SslWriteAll(tls.get(), "ping"));
  ASSERT_EQ(ReadUpTo(app.get(), 4), "ping");
  worker_->Drain(absl::ZeroDuration(), [] {});  // no time to finish: aborted
  auto summary = observer_.WaitClosed();
  ASSERT_TRUE(summary.has_value());
  EXPECT_EQ(summary->close_reason, "drained");
  EXPECT_TRUE(summary->reset);
  bool clean = true;
  SslReadUpTo(tls.get(), 1, &clean);
  EXPECT_FALSE(clean);
}

// A policy reloaded while an inbound connection is still being set up: its
// handshake judged the peer by the policy the reload replaced, and the reload
// itself looked only at established connections, so the worker judges the
// connection again once it is established.
TEST_F(WorkerTest, AConnectionWhoseHandshakeSpansAReloadIsJudgedByTheNewPolicy) {
  StartWorker();
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

  DenyEveryoneApplied();
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

class OutboundTest : public WorkerTest {
 protected:
  // An upstream proxy: the runtime's terminator with `leaf`, echoing.
  void StartUpstream(const Credential& leaf) {
    tls::TlsTerminator::Options options;
    options.listen = *net::SocketAddress::Parse("127.0.0.1:0");
    options.backend = echo_.address();
    options.client_certificates = tls::PeerCertificates::kRequired;
    upstream_ = *tls::TlsTerminator::Create(options, {});
    auto credentials = std::make_shared<tls::TlsTerminator::Credentials>();
    credentials->context = testing::ServerContext(pki_, leaf, tls::PeerCertificates::kRequired);
    credentials->bundles = testing::BundleOf(pki_);
    upstream_->SetCredentials(std::move(credentials));
    ASSERT_TRUE(upstream_->Start().ok());
    outbound_.upstream = *net::HostPort::Parse(upstream_->address().ToString());
    outbound_.upstream_address = upstream_->address();
    outbound_.session_key = "out|" + upstream_->address().ToString();
  }

  testing::EchoThread echo_;
  std::unique_ptr<tls::TlsTerminator> upstream_;
};

TEST_F(OutboundTest, WaitsForTheFirstSvidThenCarriesEveryByte) {
  const Credential upstream_leaf = pki_.IssueLeaf("/ns/shop/sa/payments");
  StartUpstream(upstream_leaf);
  outbound_.policy = *identity::AuthorizationPolicy::Create(
      {"spiffe://cluster.local/ns/shop/sa/payments"}, {}, {});
  StartWorker(/*with_identity=*/false);
  net::UniqueFd app = Adopt(&outbound_);
  const std::string early = Payload(20000, 4);
  ASSERT_TRUE(WriteAll(app.get(), early));  // held while the proxy has no SVID
  EXPECT_TRUE(echo_.peers().empty());
  worker_->PublishSnapshot(Snapshot());
  EXPECT_EQ(ReadUpTo(app.get(), early.size()), early);
  const std::string more = Payload(100000, 5);
  ASSERT_TRUE(WriteAll(app.get(), more));
  EXPECT_EQ(ReadUpTo(app.get(), more.size()), more);
  const auto handshakes = observer_.handshakes();
  ASSERT_EQ(handshakes.size(), 1u);
  EXPECT_EQ(handshakes[0].peer_id, "spiffe://cluster.local/ns/shop/sa/payments");
}

TEST_F(OutboundTest, RefusesAnUpstreamWithAnotherIdentityAndSaysWhoWasExpected) {
  const Credential impostor = pki_.IssueLeaf("/ns/shop/sa/impostor");
  StartUpstream(impostor);
  outbound_.policy = *identity::AuthorizationPolicy::Create(
      {"spiffe://cluster.local/ns/shop/sa/payments"}, {}, {});
  outbound_.policy_description = "spiffe://cluster.local/ns/shop/sa/payments";
  StartWorker();
  net::UniqueFd app = Adopt(&outbound_);
  auto summary = observer_.WaitClosed();
  ASSERT_TRUE(summary.has_value());
  EXPECT_EQ(summary->close_reason, "not_authorized");
  EXPECT_EQ(summary->detail,
            "spiffe://cluster.local/ns/shop/sa/impostor is not allowed by listener out, "
            "expected spiffe://cluster.local/ns/shop/sa/payments");
  char byte;
  EXPECT_EQ(read(app.get(), &byte, 1), 0);
  EXPECT_TRUE(echo_.peers().empty());
}

TEST_F(OutboundTest, RefusesTheAppAtOnceWhileItsSvidIsExpired) {
  StartUpstream(pki_.IssueLeaf("/ns/shop/sa/payments"));
  // The worker's clock is past the SVID's notAfter.
  StartWorker(/*with_identity=*/true, absl::Seconds(5), /*clock_offset=*/absl::Hours(24 * 400));
  net::UniqueFd app = Adopt(&outbound_);
  char byte;
  EXPECT_EQ(read(app.get(), &byte, 1), 0);  // closed without a byte taken
  ASSERT_TRUE(WaitFor([&] { return !observer_.refused().empty(); }, absl::Seconds(10)));
  EXPECT_EQ(observer_.refused(), std::vector<std::string>{"identity_expired"});
  EXPECT_TRUE(observer_.handshakes().empty());
  EXPECT_TRUE(echo_.peers().empty());
}

// Outbound to an upstream that resumes sessions: a second worker whose
// inbound listener (a real loopback socket) forwards to an echo thread.
class ResumptionTest : public WorkerTest {
 protected:
  void SetUp() override {
    upstream_leaf_ = pki_.IssueLeaf("/ns/shop/sa/payments");
    upstream_listener_.name = "in";
    upstream_listener_.label = "listener in";
    upstream_listener_.direction = forward::Direction::kInbound;
    upstream_listener_.forward_to = echo_.address();
    auto socket = net::BindListener(*net::SocketAddress::Parse("127.0.0.1:0"), true);
    ASSERT_TRUE(socket.ok());
    const net::SocketAddress address = *net::LocalAddressOf(socket->get());
    upstream_ = *Worker::Create(1, Worker::Options{}, &upstream_observer_);
    upstream_->AddListener(&upstream_listener_, *std::move(socket));
    // Published first: installed before the first accept.
    upstream_->PublishSnapshot(
        SnapshotOf(upstream_leaf_, 1, std::make_shared<tls::TicketKeyRing>(absl::Hours(1))));
    upstream_->Start();
    outbound_.upstream = *net::HostPort::Parse(address.ToString());
    outbound_.upstream_address = address;
    outbound_.session_key = "out|" + address.ToString();
    outbound_.policy = *identity::AuthorizationPolicy::Create(
        {"spiffe://cluster.local/ns/shop/sa/payments"}, {}, {});
    // Our own snapshot with a ticket key ring: its client context keeps sessions.
    StartWorker(/*with_identity=*/false);
    worker_->PublishSnapshot(SnapshotOf(proxy_leaf_, 1, ring_));
  }
  void TearDown() override { upstream_->Stop(); }

  // One app connection through the outbound listener: a checked round trip.
  bool RoundTrip(int seed) {
    net::UniqueFd app = Adopt(&outbound_);
    const std::string sent = Payload(5000, seed);
    return WriteAll(app.get(), sent) && ReadUpTo(app.get(), sent.size()) == sent;
  }

  Credential upstream_leaf_;
  forward::ListenerContext upstream_listener_;
  testing::EchoThread echo_;
  RecordingObserver upstream_observer_;
  std::unique_ptr<Worker> upstream_;
  std::shared_ptr<tls::TicketKeyRing> ring_ = std::make_shared<tls::TicketKeyRing>(absl::Hours(1));
};

TEST_F(ResumptionTest, TheSecondConnectionResumesAndItsBytesArriveOnlyOnceAccepted) {
  ASSERT_TRUE(RoundTrip(1));
  ASSERT_TRUE(RoundTrip(2));
  const auto handshakes = observer_.handshakes();
  ASSERT_EQ(handshakes.size(), 2u);
  EXPECT_FALSE(handshakes[0].resumed);
  EXPECT_TRUE(handshakes[1].resumed) << "no session was offered or accepted";
}

TEST_F(ResumptionTest, NeverOffersASessionMadeWithACertificateOfOursThatWasReplaced) {
  ASSERT_TRUE(RoundTrip(1));
  // Renewed: a new leaf, a new snapshot generation.
  worker_->PublishSnapshot(SnapshotOf(pki_.IssueLeaf("/ns/shop/sa/backend"), 2, ring_));
  ASSERT_TRUE(RoundTrip(2));
  const auto handshakes = observer_.handshakes();
  ASSERT_EQ(handshakes.size(), 2u);
  EXPECT_FALSE(handshakes[1].resumed);
}

TEST_F(ResumptionTest, ARefusedResumptionIsRetriedWithAFullHandshakeBeforeTheAppFails) {
  ASSERT_TRUE(RoundTrip(1));
  // The upstream stops allowing us: it refuses the resumed session, and then
  // (honestly) the full handshake too. The app's connection fails only then.
  DenyEveryone(*upstream_, &upstream_listener_);
  EXPECT_FALSE(RoundTrip(2));
  ASSERT_TRUE(
      WaitFor([&] { return upstream_observer_.handshakes().size() >= 3; }, absl::Seconds(10)));
  const auto seen = upstream_observer_.handshakes();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_FALSE(seen[1].ok);
  EXPECT_THAT(seen[1].detail, HasSubstr("resumed session"));
  EXPECT_FALSE(seen[2].ok);
  EXPECT_THAT(seen[2].detail, ::testing::Not(HasSubstr("resumed session")));
  EXPECT_TRUE(echo_.peers().size() == 1u) << "the refused connection reached the app";
}

}  // namespace
}  // namespace palisade::server
