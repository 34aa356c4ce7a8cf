// The identity port under a connection flood, with a real palisade-control
// process: an "attacker" on 127.0.0.66 holds idle connections (TCP only,
// and TLS-finished without a certificate) up to and beyond the connection
// cap, and silent TCP connections beyond the pending-handshake bound;
// meanwhile a real bootstrap (join token) and a real renewal (SVID) from
// 127.0.0.1 succeed within seconds. TLS-level refusals (a client SVID from
// a rogue CA) leave a log and an audit line, and a flood of them a bounded
// number of lines plus a count of the ones left out.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "identity/certificate.h"
#include "tests/integration/identity_stream.h"
#include "tests/util/process.h"
#include "tests/util/prometheus_text.h"
#include "tests/util/test_pki.h"

namespace palisade::testing {
namespace {

using control::v1::WatchResponse;

constexpr char kAttacker[] = "127.0.0.66";
constexpr char kWorkload[] = "spiffe://example.org/ns/shop/sa/cart";
// What "gets through" means under attack: a bootstrap or renewal this fast.
constexpr absl::Duration kWithin = absl::Seconds(3);

// One connection the attacker holds open.
struct Held {
  int fd = -1;
  bssl::UniquePtr<SSL> ssl;
  Held() = default;
  Held(Held&& other) noexcept : fd(other.fd), ssl(std::move(other.ssl)) { other.fd = -1; }
  ~Held() {
    ssl.reset();
    if (fd >= 0) close(fd);
  }
};

// A TCP connection from `source` to `target` ("127.0.0.1:PORT"), reads and
// writes bounded to 5 s; fd -1 on failure.
Held ConnectFrom(const std::string& source, const std::string& target) {
  Held held;
  std::vector<std::string> parts = absl::StrSplit(target, ':');
  int port = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &port)) return held;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, source.c_str(), &local.sin_addr);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, parts[0].c_str(), &remote.sin_addr);
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof(remote)) != 0) {
    close(fd);
    return held;
  }
  held.fd = fd;
  return held;
}

// A TLS client that verifies nothing, presenting `client` if set.
bssl::UniquePtr<SSL_CTX> AttackerContext(const Credential* client = nullptr) {
  bssl::UniquePtr<SSL_CTX> context(SSL_CTX_new(TLS_method()));
  SSL_CTX_set_verify(context.get(), SSL_VERIFY_NONE, nullptr);
  if (client != nullptr) {
    SSL_CTX_use_certificate(context.get(), client->x509());
    SSL_CTX_use_PrivateKey(context.get(), client->key.get());
  }
  return context;
}

// ConnectFrom, then a full TLS handshake; ssl null if it did not finish.
Held HandshakeFrom(const std::string& source, const std::string& target, SSL_CTX* context) {
  Held held = ConnectFrom(source, target);
  if (held.fd < 0) return held;
  bssl::UniquePtr<SSL> ssl(SSL_new(context));
  SSL_set_fd(ssl.get(), held.fd);
  if (SSL_connect(ssl.get()) == 1) held.ssl = std::move(ssl);
  return held;
}

class ControlIdentityPortLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTempDir("idport"); }
  void TearDown() override {
    held_.clear();
    if (control_ != nullptr && control_->process().Running()) {
      EXPECT_EQ(control_->process().Stop(), 0) << control_->process().Output();
    }
  }

  void StartControl(std::vector<std::string> extra) {
    auto control = ControlProcess::Start(dir_, extra);
    ASSERT_TRUE(control.ok()) << control.status();
    control_ = *std::move(control);
  }

  std::string Token() {
    absl::StatusOr<nlohmann::json> token = control_->CreateJoinToken(kWorkload);
    EXPECT_TRUE(token.ok()) << token.status();
    return token.ok() ? (*token)["token"].get<std::string>() : "";
  }

  // A first SVID by join token; how long it took, or why it failed.
  absl::StatusOr<absl::Duration> Bootstrap(const std::string& token, Svid* svid) {
    const absl::Time start = absl::Now();
    absl::StatusOr<std::unique_ptr<IdentityStream>> stream = IdentityStream::Open(*control_);
    if (!stream.ok()) return stream.status();
    return Issue(**stream, HelloRequest(token), start, svid);
  }

  // A renewal over mTLS with `svid`.
  absl::StatusOr<absl::Duration> Renew(const Svid& svid) {
    const absl::Time start = absl::Now();
    absl::StatusOr<std::unique_ptr<IdentityStream>> stream = IdentityStream::Open(*control_, &svid);
    if (!stream.ok()) return stream.status();
    return Issue(**stream, HelloRequest(), start, nullptr);
  }

  absl::StatusOr<absl::Duration> Issue(IdentityStream& stream,
                                       const control::v1::WatchRequest& hello, absl::Time start,
                                       Svid* svid) {
    WatchResponse response;
    if (!stream.Write(hello) || !stream.Read(&response) || !response.has_bundle()) {
      const grpc::Status status = stream.Drain();
      return absl::UnavailableError(absl::StrCat("no bundle: ", status.error_code(), " ",
                                                 status.error_message(), " after ",
                                                 absl::FormatDuration(absl::Now() - start)));
    }
    bssl::UniquePtr<EVP_PKEY> key;
    if (!stream.Write(CsrRequest(kWorkload, &key)) || !stream.Read(&response) ||
        !response.has_svid()) {
      return absl::UnavailableError("no SVID");
    }
    if (svid != nullptr) *svid = SvidFrom(response, std::move(key));
    stream.CloseWrites();
    return absl::Now() - start;
  }

  // Prints and checks one timed operation under attack.
  void ExpectQuick(const std::string& what, const absl::StatusOr<absl::Duration>& took) {
    if (took.ok()) {
      std::cout << what << " under attack: " << absl::FormatDuration(*took) << "\n";
      RecordProperty(what + "_ms", static_cast<int>(absl::ToInt64Milliseconds(*took)));
      EXPECT_LT(*took, kWithin) << what;
    } else {
      std::cout << what << " under attack FAILED: " << took.status() << "\n";
      ADD_FAILURE() << what << ": " << took.status() << "\n" << control_->process().Output();
    }
  }

  std::string Metrics() { return HttpGet(control_->admin_url() + "/metrics").body; }
  // Identity-port connections closed unserved for `reason`.
  double Refused(const std::string& reason) {
    return MetricSum(Metrics(), "palisade_control_tls_handshakes_total",
                     {{"result", "refused_" + reason}});
  }

  // The audit lines (parsed) whose reason starts with `prefix`.
  std::vector<nlohmann::json> AuditLines(const std::string& prefix) {
    std::vector<nlohmann::json> out;
    for (absl::string_view line : absl::StrSplit(
             ReadFileOrEmpty(control_->state_dir() + "/audit.log"), '\n', absl::SkipEmpty())) {
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_discarded() && absl::StartsWith(j.value("reason", ""), prefix)) out.push_back(j);
    }
    return out;
  }

  size_t LogLines(const std::string& needle) {
    size_t n = 0;
    for (absl::string_view line : absl::StrSplit(control_->process().Output(), '\n')) {
      if (absl::StrContains(line, needle)) ++n;
    }
    return n;
  }

  std::string dir_;
  std::unique_ptr<ControlProcess> control_;
  std::vector<Held> held_;
};

TEST_F(ControlIdentityPortLimitsTest, IdleConnectionsFromOneSourceDoNotLockOutBootstrapOrRenewal) {
  StartControl({"--max_connections=32"});
  Svid svid;
  ASSERT_TRUE(Bootstrap(Token(), &svid).ok());
  const std::string token = Token();

  // Over the cap: TCP only, and TLS finished without a certificate.
  bssl::UniquePtr<SSL_CTX> anonymous = AttackerContext();
  size_t tcp = 0, tls = 0;
  for (int i = 0; i < 40; ++i) {
    held_.push_back(ConnectFrom(kAttacker, control_->identity_address()));
    if (held_.back().fd >= 0) ++tcp;
  }
  for (int i = 0; i < 40; ++i) {
    held_.push_back(HandshakeFrom(kAttacker, control_->identity_address(), anonymous.get()));
    if (held_.back().ssl != nullptr) ++tls;
  }
  std::cout << "attacker holds " << tcp << " TCP-only and " << tls << " TLS-finished connections\n";
  absl::SleepFor(absl::Milliseconds(300));

  ExpectQuick("bootstrap", Bootstrap(token, nullptr));
  ExpectQuick("renewal", Renew(svid));
  // The default share for one source of a cap of 32 is 4 anonymous connections.
  EXPECT_GE(Refused("anonymous_per_source"), 36) << Metrics();
}

TEST_F(ControlIdentityPortLimitsTest, AnonymousConnectionsFromManySourcesLeaveRoomForRenewals) {
  StartControl({"--max_connections=32"});
  Svid svid;
  ASSERT_TRUE(Bootstrap(Token(), &svid).ok());
  // Eight attacker addresses, eight TLS-finished anonymous connections each:
  // twice the cap.
  bssl::UniquePtr<SSL_CTX> anonymous = AttackerContext();
  for (int source = 0; source < 8; ++source) {
    for (int i = 0; i < 8; ++i) {
      held_.push_back(HandshakeFrom(absl::StrCat("127.0.0.", 70 + source),
                                    control_->identity_address(), anonymous.get()));
    }
  }
  absl::SleepFor(absl::Milliseconds(300));
  ExpectQuick("renewal", Renew(svid));
  // Anonymous ones may hold 32 less the reserve of 8 (and 4 per source).
  EXPECT_GE(Refused("anonymous_limit"), 1) << Metrics();
  EXPECT_GE(Refused("anonymous_limit") + Refused("anonymous_per_source"), 64 - 24) << Metrics();
}

TEST_F(ControlIdentityPortLimitsTest, SilentHandshakesBeyondThePendingBoundDoNotRefuseRealClients) {
  StartControl({"--max_connections=32", "--max_pending_handshakes=48"});
  Svid svid;
  ASSERT_TRUE(Bootstrap(Token(), &svid).ok());
  for (int i = 0; i < 80; ++i)
    held_.push_back(ConnectFrom(kAttacker, control_->identity_address()));
  absl::SleepFor(absl::Milliseconds(300));
  int ok = 0;
  absl::Duration slowest;
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<absl::Duration> took = Renew(svid);
    if (took.ok()) {
      ++ok;
      slowest = std::max(slowest, *took);
    } else {
      std::cout << "renewal " << i << " failed: " << took.status() << "\n";
    }
  }
  std::cout << ok << "/5 renewals while 80 silent connections were pending; slowest "
            << absl::FormatDuration(slowest) << "\n";
  EXPECT_EQ(ok, 5);
  EXPECT_LT(slowest, kWithin);
  // Each silent connection beyond the 48 pending evicted the oldest (and the
  // first real client one more; it was pending only for its handshake).
  EXPECT_GE(Refused("pending_evicted"), 80 - 48) << Metrics();
}

// Closed within `within`: the server sent EOF or reset it.
bool ClosedWithin(Held& held, absl::Duration within) {
  const absl::Time deadline = absl::Now() + within;
  char buffer[256];
  while (absl::Now() < deadline) {
    const int n = SSL_read(held.ssl.get(), buffer, sizeof(buffer));
    if (n > 0) continue;  // session tickets, a GOAWAY
    if (SSL_get_error(held.ssl.get(), n) == SSL_ERROR_SYSCALL && errno == EAGAIN) continue;
    return true;
  }
  return false;
}

TEST_F(ControlIdentityPortLimitsTest, ClientsThatSayNothingOrOpenNoStreamAreClosed) {
  StartControl({"--first_byte_timeout=1s", "--first_stream_timeout=1s"});
  bssl::UniquePtr<SSL_CTX> anonymous = AttackerContext();
  // Silent after its handshake.
  Held silent = HandshakeFrom(kAttacker, control_->identity_address(), anonymous.get());
  ASSERT_NE(silent.ssl, nullptr);
  // An HTTP/2 connection (preface and SETTINGS) that opens no stream.
  Held no_stream = HandshakeFrom(kAttacker, control_->identity_address(), anonymous.get());
  ASSERT_NE(no_stream.ssl, nullptr);
  const std::string preface = std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") +
                              std::string("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);
  ASSERT_EQ(SSL_write(no_stream.ssl.get(), preface.data(), static_cast<int>(preface.size())),
            static_cast<int>(preface.size()));
  const absl::Time start = absl::Now();
  EXPECT_TRUE(ClosedWithin(silent, absl::Seconds(5)));
  std::cout << "silent connection closed after " << absl::FormatDuration(absl::Now() - start)
            << "\n";
  EXPECT_TRUE(ClosedWithin(no_stream, absl::Seconds(5)));
  std::cout << "connection without a stream closed after "
            << absl::FormatDuration(absl::Now() - start) << "\n";
  EXPECT_GE(Refused("first_byte_timeout"), 1) << Metrics();
}

TEST_F(ControlIdentityPortLimitsTest, TlsRefusalsAreLoggedAndAuditedAtABoundedRate) {
  StartControl({"--tls_refusal_log_interval=2s"});
  TestPki rogue({.trust_domain = "example.org"});
  const Credential rogue_leaf = rogue.IssueLeaf("/ns/shop/sa/rogue");
  bssl::UniquePtr<SSL_CTX> context = AttackerContext(&rogue_leaf);
  // One refusal: one log line, one audit line, naming the reason and peer.
  {
    Held one = HandshakeFrom(kAttacker, control_->identity_address(), context.get());
    char byte;
    if (one.ssl != nullptr) SSL_read(one.ssl.get(), &byte, 1);  // TLS 1.3: the alert comes here
  }
  ASSERT_TRUE(WaitFor([&] { return !AuditLines("tls_").empty(); }, absl::Seconds(5)))
      << control_->process().Output();
  const nlohmann::json line = AuditLines("tls_")[0];
  EXPECT_EQ(line["event"], "refused") << line.dump();
  EXPECT_TRUE(absl::StrContains(line.dump(), kAttacker)) << line.dump();
  EXPECT_TRUE(absl::StrContains(line.dump(), "spiffe://example.org/ns/shop/sa/rogue"))
      << line.dump();
  EXPECT_EQ(LogLines("identity port refused a TLS client"), 1u) << control_->process().Output();

  // A flood: at most the burst per interval, then a line with the count left out.
  constexpr int kFlood = 100;
  const absl::Time flood_start = absl::Now();
  for (int i = 0; i < kFlood; ++i) {
    Held h = HandshakeFrom(kAttacker, control_->identity_address(), context.get());
    char byte;
    if (h.ssl != nullptr) SSL_read(h.ssl.get(), &byte, 1);
  }
  const absl::Duration flood = absl::Now() - flood_start;
  ASSERT_TRUE(WaitFor([&] { return LogLines("TLS refusals not logged") > 0; }, absl::Seconds(8)))
      << control_->process().Output();
  const size_t logged = LogLines("identity port refused a TLS client");
  const size_t audited = AuditLines("tls_").size();
  std::cout << kFlood + 1 << " refusals in " << absl::FormatDuration(flood) << ": " << logged
            << " log lines, " << audited << " audit lines\n";
  // 10 lines per 2 s window (a slow sanitizer build spans more windows),
  // plus one summary line per window in the audit log.
  const size_t windows = static_cast<size_t>(flood / absl::Seconds(2)) + 2;
  EXPECT_LE(logged, 10 * windows);
  EXPECT_LE(audited, 11 * windows);
  EXPECT_LT(logged, static_cast<size_t>(kFlood) / 2);
  const double suppressed =
      MetricSum(Metrics(), "palisade_control_tls_refusal_log_suppressed_total",
                {{"reason", "untrusted_chain"}});
  EXPECT_EQ(suppressed + logged, kFlood + 1) << Metrics();
}

}  // namespace
}  // namespace palisade::testing
