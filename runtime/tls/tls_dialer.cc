#include "runtime/tls/tls_dialer.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "identity/verify_reason.h"
#include "runtime/net/sockets.h"

namespace palisade::tls {
namespace {

// A server that vanished without a FIN (host gone, network cut) is noticed
// within about a minute instead of at TCP's retransmission limit. gRPC
// keepalive pings would do the same but servers refuse frequent pings.
void SetDeadPeerDetection(int fd) {
  const int one = 1, idle = 30, interval = 10, count = 3;
  const unsigned user_timeout_ms = 60 * 1000;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
  setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof(user_timeout_ms));
}

}  // namespace

TlsDialer::TlsDialer(event::EventLoop* loop, Options options, Done done)
    : loop_(loop),
      options_(std::move(options)),
      done_(std::move(done)),
      resolver_(loop),
      connect_deadline_(loop, [this] { OnConnectTimeout(); }) {}

TlsDialer::~TlsDialer() {
  // The handshaker refers to the transport's SSL, the watcher to its fd.
  watch_.reset();
  handshaker_.reset();
}

void TlsDialer::Start() {
  phase_ = Phase::kResolving;
  connect_deadline_.Arm(options_.connect_timeout);
  resolving_ = resolver_.Resolve(options_.target, [this](absl::StatusOr<net::SocketAddress> a) {
    resolving_.reset();
    OnResolved(std::move(a));
  });
}

void TlsDialer::OnResolved(absl::StatusOr<net::SocketAddress> address) {
  if (phase_ != Phase::kResolving) return;
  if (!address.ok()) {
    Finish(absl::UnavailableError(absl::StrCat(options_.name, ": ", address.status().message())));
    return;
  }
  address_ = *address;
  absl::StatusOr<net::UniqueFd> fd = net::StartConnect(*address);
  if (!fd.ok()) {
    Finish(absl::UnavailableError(absl::StrCat(options_.name, ": ", fd.status().message())));
    return;
  }
  phase_ = Phase::kConnecting;
  connecting_ = *std::move(fd);
  watch_ = std::make_unique<event::FdWatcher>(loop_, connecting_.get(),
                                              [this](bool, bool) { OnSocketEvent(); });
}

void TlsDialer::OnSocketEvent() {
  if (phase_ == Phase::kConnecting) {
    OnConnected();
  } else if (phase_ == Phase::kHandshaking) {
    handshaker_->OnReadiness();
  }
}

void TlsDialer::OnConnected() {
  if (absl::Status result = net::ConnectResult(connecting_.get()); !result.ok()) {
    const std::string resolved = address_.ToString() == options_.target.ToString()
                                     ? ""
                                     : absl::StrCat(" (", address_.ToString(), ")");
    Finish(absl::UnavailableError(
        absl::StrCat("cannot connect to ", options_.name, resolved, ": ", result.message())));
    return;
  }
  connect_deadline_.Cancel();
  SetDeadPeerDetection(connecting_.get());
  bssl::UniquePtr<SSL> ssl(SSL_new(options_.context.get()));
  if (ssl == nullptr) {
    Finish(absl::ResourceExhaustedError("SSL_new failed"));
    return;
  }
  SSL_set_connect_state(ssl.get());
  const std::string& host = options_.target.host;
  if (!net::IsIpLiteral(host)) SSL_set_tlsext_host_name(ssl.get(), host.c_str());
  transport_ = std::make_unique<TlsTransport>(std::move(connecting_), std::move(ssl));
  Handshaker::Options handshake;
  handshake.timeout = options_.handshake_timeout;
  handshake.clock = options_.clock;
  handshake.check.bundles = &options_.bundles;
  handshake.check.verify.clock_skew = options_.clock_skew;
  handshake.check.verify.peer_role = identity::PeerRole::kServer;
  handshake.check.policy = &options_.expected;
  handshaker_ = std::make_unique<Handshaker>(
      loop_, transport_.get(), std::move(handshake),
      Handshaker::Callbacks{[this](const HandshakeResult& r) { OnHandshake(r); }, nullptr});
  phase_ = Phase::kHandshaking;
  handshaker_->Start();
}

void TlsDialer::OnHandshake(const HandshakeResult& result) {
  const std::string with = absl::StrCat("TLS handshake with ", options_.name);
  if (result.ok) {
    handshaker_->Detach();  // the transport goes to the caller, its SSL without hooks
    Finish(Dialed{std::move(transport_), *result.peer.svid});
    return;
  }
  if (result.reason == "timeout") {
    Finish(absl::DeadlineExceededError(absl::StrCat(
        with, " did not finish within ", absl::FormatDuration(options_.handshake_timeout))));
  } else if (result.peer.reason == identity::VerifyReason::kNotAuthorized) {
    Finish(absl::UnauthenticatedError(absl::StrCat(
        with, " failed: wrong server identity: it presented ",
        result.peer.svid->spiffe_id.ToString(), ", expected ", options_.expected_description)));
  } else if (!result.peer.ok()) {
    Finish(absl::UnauthenticatedError(
        absl::StrCat(with, " failed: the server's certificate is not a valid X.509-SVID under ",
                     "the trust bundle: ", result.reason, ": ", result.detail)));
  } else {
    Finish(absl::UnavailableError(
        absl::StrCat(with, " failed: ", result.reason, " (", result.detail, ")")));
  }
}

void TlsDialer::OnConnectTimeout() {
  if (phase_ != Phase::kResolving && phase_ != Phase::kConnecting) return;
  Finish(absl::DeadlineExceededError(absl::StrCat("cannot connect to ", options_.name,
                                                  ": no answer within ",
                                                  absl::FormatDuration(options_.connect_timeout))));
}

void TlsDialer::Finish(absl::StatusOr<Dialed> outcome) {
  if (phase_ == Phase::kDone) return;
  phase_ = Phase::kDone;
  connect_deadline_.Cancel();
  resolving_.reset();
  watch_.reset();
  Done done = std::move(done_);
  done(std::move(outcome));
}

}  // namespace palisade::tls
