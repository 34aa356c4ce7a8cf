// The terminator and the dialer against each other on loopback, with a
// plain echo backend: bytes both ways (checked), the peer behind each
// forwarded connection, refusals the client can read, deadlines, caps, and
// taking the endpoint out of service.
#include "runtime/tls/tls_terminator.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "identity/authz_policy.h"
#include "runtime/event/event_loop.h"
#include "runtime/net/sockets.h"
#include "runtime/sync/mutex.h"
#include "runtime/tls/tls_dialer.h"
#include "runtime/tls/tls_error.h"
#include "tests/util/echo_thread.h"
#include "tests/util/process.h"
#include "tests/util/status_matchers.h"
#include "tests/util/tls_test_support.h"

namespace palisade::tls {
namespace {

using testing::Credential;
using ::testing::HasSubstr;
using testing::StatusIs;
using testing::TestPki;
using testing::WaitFor;

// What the terminator's events reported, readable from the test thread.
struct Record {
  sync::Mutex mu;
  std::vector<std::string> handshakes ABSL_GUARDED_BY(mu);  // reason codes
  std::vector<std::string> forwarded ABSL_GUARDED_BY(mu);   // "forwarder peer-id"
  std::vector<std::string> ended ABSL_GUARDED_BY(mu);       // forwarders
  std::vector<std::string> refused ABSL_GUARDED_BY(mu);
  std::vector<std::string> Get(std::vector<std::string> Record::*field) {
    sync::MutexLock lock(&mu);
    return this->*field;
  }
};

class TlsTerminatorTest : public ::testing::Test {
 protected:
  TlsTerminatorTest()
      : pki_(Options("cluster.local")),
        server_leaf_(pki_.IssueLeaf("/palisade/control")),
        client_leaf_(pki_.IssueLeaf("/ns/a/sa/client")),
        bundles_(testing::BundleOf(pki_)) {
    client_loop_ = *event::EventLoop::Create();
    client_thread_ = std::thread([this] { client_loop_->Run(); });
  }
  ~TlsTerminatorTest() override {
    terminator_.reset();
    client_loop_->Stop();
    client_thread_.join();
  }

  static TestPki::Options Options(const std::string& domain) {
    TestPki::Options options;
    options.trust_domain = domain;
    return options;
  }

  void StartTerminator(TlsTerminator::Options options = {}) {
    options.listen = *net::SocketAddress::Parse("127.0.0.1:0");
    options.backend = backend_.address();
    options.client_certificates = client_certificates_;
    options.handshake_timeout = options.handshake_timeout == absl::Seconds(10)
                                    ? absl::Seconds(5)
                                    : options.handshake_timeout;
    TlsTerminator::Events events;
    events.on_handshake = [this](const HandshakeResult& r, const net::SocketAddress&) {
      sync::MutexLock lock(&record_.mu);
      record_.handshakes.push_back(r.reason);
    };
    events.on_forward = [this](const net::SocketAddress& forwarder, const verify::PeerVerdict& peer,
                               const net::SocketAddress&) {
      sync::MutexLock lock(&record_.mu);
      record_.forwarded.push_back(forwarder.ToString() + " " +
                                  (peer.svid ? peer.svid->spiffe_id.ToString() : "anonymous"));
    };
    events.on_forward_end = [this](const net::SocketAddress& forwarder) {
      sync::MutexLock lock(&record_.mu);
      record_.ended.push_back(forwarder.ToString());
    };
    events.on_refused = [this](absl::string_view reason) {
      sync::MutexLock lock(&record_.mu);
      record_.refused.push_back(std::string(reason));
    };
    auto terminator = TlsTerminator::Create(std::move(options), std::move(events));
    ASSERT_TRUE(terminator.ok()) << terminator.status();
    terminator_ = *std::move(terminator);
    auto credentials = std::make_shared<TlsTerminator::Credentials>();
    credentials->context = testing::ServerContext(pki_, server_leaf_, client_certificates_);
    credentials->bundles = bundles_;
    terminator_->SetCredentials(std::move(credentials));
    ASSERT_TRUE(terminator_->Start().ok());
  }

  // Dials the terminator as `client` (from `client_pki`), expecting the
  // server to be `expected_id`. The transport comes back blocking.
  absl::StatusOr<TlsDialer::Dialed> Dial(const TestPki& client_pki, const Credential* client,
                                         const std::string& expected_id) {
    TlsDialer::Options options;
    options.target = *net::HostPort::Parse(terminator_->address().ToString());
    options.name = "test server";
    options.context = testing::ClientContext(client_pki, client);
    options.bundles = bundles_;
    options.expected = *identity::AuthorizationPolicy::Create({expected_id}, {}, {});
    options.expected_description = expected_id;
    return DialWith(std::move(options));
  }

  // One dialer on the client loop, from start to its outcome.
  absl::StatusOr<TlsDialer::Dialed> DialWith(TlsDialer::Options options) {
    sync::Notification done;
    absl::StatusOr<TlsDialer::Dialed> result = absl::UnknownError("not run");
    std::unique_ptr<TlsDialer> dialer;
    client_loop_->Post([&] {
      dialer = std::make_unique<TlsDialer>(client_loop_.get(), std::move(options),
                                           [&](absl::StatusOr<TlsDialer::Dialed> r) {
                                             result = std::move(r);
                                             done.Notify();
                                           });
      dialer->Start();
    });
    EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(20)));
    sync::Notification gone;
    client_loop_->Post([&] {
      dialer.reset();
      gone.Notify();
    });
    gone.WaitForNotification();
    if (result.ok()) fcntl(result->transport->fd(), F_SETFL, 0);
    return result;
  }

  // Sends `bytes` a chunk at a time and reads each chunk's echo back (a
  // blocking writer that never reads would fill every buffer on the way);
  // false if the connection failed or a byte came back wrong.
  static bool RoundTrip(SSL* ssl, const std::string& bytes) {
    constexpr size_t kChunk = 8192;
    for (size_t at = 0; at < bytes.size(); at += kChunk) {
      const std::string chunk = bytes.substr(at, kChunk);
      size_t written = 0;
      while (written < chunk.size()) {
        const int n =
            SSL_write(ssl, chunk.data() + written, static_cast<int>(chunk.size() - written));
        if (n <= 0) return false;
        written += n;
      }
      std::string back;
      char buffer[kChunk];
      while (back.size() < chunk.size()) {
        const int n = SSL_read(ssl, buffer, static_cast<int>(chunk.size() - back.size()));
        if (n <= 0) return false;
        back.append(buffer, n);
      }
      if (back != chunk) return false;
    }
    return true;
  }

  PeerCertificates client_certificates_ = PeerCertificates::kRequired;
  TestPki pki_;
  Credential server_leaf_;
  Credential client_leaf_;
  identity::TrustBundleSet bundles_;
  testing::EchoThread backend_;
  Record record_;
  std::unique_ptr<TlsTerminator> terminator_;
  std::unique_ptr<event::EventLoop> client_loop_;
  std::thread client_thread_;
};

TEST_F(TlsTerminatorTest, ForwardsBytesBothWaysAndNamesThePeerBehindTheForwardedConnection) {
  StartTerminator();
  auto dialed = Dial(pki_, &client_leaf_, "spiffe://cluster.local/palisade/control");
  ASSERT_TRUE(dialed.ok()) << dialed.status();
  EXPECT_EQ(dialed->server.spiffe_id.ToString(), "spiffe://cluster.local/palisade/control");
  std::string payload(200 * 1024, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 131 + 7);
  EXPECT_TRUE(RoundTrip(dialed->transport->ssl(), payload));

  const auto forwarded = record_.Get(&Record::forwarded);
  ASSERT_EQ(forwarded.size(), 1u);
  ASSERT_EQ(backend_.peers().size(), 1u);
  EXPECT_EQ(forwarded[0], backend_.peers()[0] + " spiffe://cluster.local/ns/a/sa/client");
  EXPECT_EQ(terminator_->connection_count(), 1u);

  dialed->transport.reset();  // the client goes away: so does the forwarded connection
  EXPECT_TRUE(WaitFor([&] { return terminator_->connection_count() == 0; }, absl::Seconds(10)));
  EXPECT_EQ(record_.Get(&Record::ended), std::vector<std::string>{backend_.peers()[0]});
}

TEST_F(TlsTerminatorTest, RefusesAnUntrustedClientInAWayTheClientCanRead) {
  StartTerminator();
  TestPki stranger(Options("cluster.local"));
  const Credential intruder = stranger.IssueLeaf("/ns/a/sa/intruder");
  auto dialed = Dial(stranger, &intruder, "spiffe://cluster.local/palisade/control");
  // TLS 1.3: the client finishes first; the refusal is the server's alert.
  ASSERT_TRUE(dialed.ok()) << dialed.status();
  char byte;
  ERR_clear_error();
  EXPECT_LE(SSL_read(dialed->transport->ssl(), &byte, 1), 0);
  EXPECT_STREQ(ReasonForSslError(ERR_peek_error()), "peer_rejected_certificate");
  EXPECT_TRUE(WaitFor(
      [&] {
        return record_.Get(&Record::handshakes) == std::vector<std::string>{"untrusted_chain"};
      },
      absl::Seconds(10)));
  EXPECT_TRUE(backend_.peers().empty());
}

TEST_F(TlsTerminatorTest, GivesUpOnAClientThatNeverSpeaks) {
  TlsTerminator::Options options;
  options.handshake_timeout = absl::Milliseconds(200);
  options.linger = absl::Milliseconds(100);
  StartTerminator(options);
  auto fd = net::StartConnect(terminator_->address());
  ASSERT_TRUE(fd.ok());
  EXPECT_TRUE(WaitFor(
      [&] { return record_.Get(&Record::handshakes) == std::vector<std::string>{"timeout"}; },
      absl::Seconds(10)));
  EXPECT_TRUE(WaitFor([&] { return terminator_->connection_count() == 0; }, absl::Seconds(10)));
  char byte;
  EXPECT_EQ(read(fd->get(), &byte, 1), 0);  // closed, not reset
}

TEST_F(TlsTerminatorTest, RefusesConnectionsBeyondItsCap) {
  TlsTerminator::Options options;
  options.max_connections = 1;
  StartTerminator(options);
  auto first = Dial(pki_, &client_leaf_, "spiffe://cluster.local/palisade/control");
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = Dial(pki_, &client_leaf_, "spiffe://cluster.local/palisade/control");
  EXPECT_FALSE(second.ok());
  EXPECT_EQ(record_.Get(&Record::refused), std::vector<std::string>{"max_connections"});
  EXPECT_TRUE(RoundTrip(first->transport->ssl(), "still served"));
}

TEST_F(TlsTerminatorTest, PendingHandshakesDoNotCountAgainstTheCapAndTheOldestMakesRoom) {
  TlsTerminator::Options options;
  options.max_connections = 1;
  options.max_pending = 4;
  StartTerminator(options);
  std::vector<net::UniqueFd> silent;
  for (int i = 0; i < 6; ++i) silent.push_back(*net::StartConnect(terminator_->address()));
  EXPECT_TRUE(WaitFor(
      [&] {
        return record_.Get(&Record::refused) == std::vector<std::string>(2, "pending_evicted");
      },
      absl::Seconds(10)));
  // A real client gets in (evicting one more silent connection) and is served.
  auto dialed = Dial(pki_, &client_leaf_, "spiffe://cluster.local/palisade/control");
  ASSERT_TRUE(dialed.ok()) << dialed.status();
  EXPECT_TRUE(RoundTrip(dialed->transport->ssl(), "served"));
  EXPECT_EQ(record_.Get(&Record::refused), std::vector<std::string>(3, "pending_evicted"));
  char byte;
  EXPECT_EQ(read(silent[0].get(), &byte, 1), 0);  // the oldest went first
}

TEST_F(TlsTerminatorTest, AnonymousClientsLeaveTheReserveToClientsWithAnSvid) {
  client_certificates_ = PeerCertificates::kOptional;
  TlsTerminator::Options options;
  options.max_connections = 2;
  options.reserved_for_svids = 1;
  StartTerminator(options);
  const std::string server = "spiffe://cluster.local/palisade/control";
  auto first = Dial(pki_, nullptr, server);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(RoundTrip(first->transport->ssl(), "anonymous"));
  // TLS 1.3: the handshake finishes on the client's side; then it is closed.
  auto second = Dial(pki_, nullptr, server);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(RoundTrip(second->transport->ssl(), "no room"));
  EXPECT_EQ(record_.Get(&Record::refused), std::vector<std::string>{"anonymous_limit"});
  auto svid = Dial(pki_, &client_leaf_, server);
  ASSERT_TRUE(svid.ok()) << svid.status();
  EXPECT_TRUE(RoundTrip(svid->transport->ssl(), "the reserve"));
}

TEST_F(TlsTerminatorTest, BoundsAnonymousClientsPerSource) {
  client_certificates_ = PeerCertificates::kOptional;
  TlsTerminator::Options options;
  options.max_connections = 8;
  options.max_anonymous_per_source = 1;
  StartTerminator(options);
  const std::string server = "spiffe://cluster.local/palisade/control";
  auto first = Dial(pki_, nullptr, server);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(RoundTrip(first->transport->ssl(), "one"));
  auto second = Dial(pki_, nullptr, server);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(RoundTrip(second->transport->ssl(), "two"));
  EXPECT_EQ(record_.Get(&Record::refused), std::vector<std::string>{"anonymous_per_source"});
  first->transport.reset();  // its share comes back
  EXPECT_TRUE(WaitFor([&] { return terminator_->connection_count() == 0; }, absl::Seconds(10)));
  auto third = Dial(pki_, nullptr, server);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_TRUE(RoundTrip(third->transport->ssl(), "three"));
}

TEST_F(TlsTerminatorTest, ClosesAClientThatSendsNothingAfterItsHandshake) {
  TlsTerminator::Options options;
  options.first_byte_timeout = absl::Milliseconds(300);
  StartTerminator(options);
  const std::string server = "spiffe://cluster.local/palisade/control";
  auto speaks = Dial(pki_, &client_leaf_, server);
  ASSERT_TRUE(speaks.ok()) << speaks.status();
  EXPECT_TRUE(RoundTrip(speaks->transport->ssl(), "at once"));
  auto silent = Dial(pki_, &client_leaf_, server);
  ASSERT_TRUE(silent.ok()) << silent.status();
  EXPECT_TRUE(WaitFor(
      [&] {
        return record_.Get(&Record::refused) == std::vector<std::string>{"first_byte_timeout"};
      },
      absl::Seconds(10)));
  EXPECT_FALSE(RoundTrip(silent->transport->ssl(), "too late"));
  absl::SleepFor(absl::Milliseconds(400));
  EXPECT_TRUE(RoundTrip(speaks->transport->ssl(), "still served"));
}

TEST_F(TlsTerminatorTest, TakenOutOfServiceItClosesLiveConnectionsAndRefusesNewOnes) {
  StartTerminator();
  auto live = Dial(pki_, &client_leaf_, "spiffe://cluster.local/palisade/control");
  ASSERT_TRUE(live.ok()) << live.status();
  ASSERT_TRUE(RoundTrip(live->transport->ssl(), "before"));
  terminator_->SetServing(false);
  EXPECT_EQ(terminator_->connection_count(), 0u);
  EXPECT_FALSE(RoundTrip(live->transport->ssl(), "after"));
  EXPECT_FALSE(Dial(pki_, &client_leaf_, "spiffe://cluster.local/palisade/control").ok());
  EXPECT_EQ(record_.Get(&Record::refused), std::vector<std::string>{"not_serving"});
  terminator_->SetServing(true);
  auto again = Dial(pki_, &client_leaf_, "spiffe://cluster.local/palisade/control");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(RoundTrip(again->transport->ssl(), "back"));
}

TEST_F(TlsTerminatorTest, TheDialerRefusesAServerWithAnotherIdentity) {
  StartTerminator();
  auto dialed = Dial(pki_, &client_leaf_, "spiffe://cluster.local/someone/else");
  EXPECT_THAT(dialed.status(),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("wrong server identity: it presented "
                                 "spiffe://cluster.local/palisade/control, expected "
                                 "spiffe://cluster.local/someone/else")));
}

TEST_F(TlsTerminatorTest, TheDialerSaysWhoItCouldNotReach) {
  StartTerminator();
  const net::SocketAddress gone = terminator_->address();
  terminator_.reset();  // nothing listens there any more
  TlsDialer::Options options;
  options.target = *net::HostPort::Parse(gone.ToString());
  options.name = "test server";
  options.context = testing::ClientContext(pki_, &client_leaf_);
  options.bundles = bundles_;
  const absl::Status status = DialWith(std::move(options)).status();
  EXPECT_THAT(status,
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("cannot connect to test server")));
}

}  // namespace
}  // namespace palisade::tls
