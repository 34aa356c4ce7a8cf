#include "proxy/identity_client/secure_channel.h"

#include <arpa/inet.h>
#include <grpcpp/create_channel_posix.h>
#include <grpcpp/support/channel_arguments.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "identity/spiffe_id.h"
#include "identity/verify_reason.h"
#include "runtime/net/plain_transport.h"
#include "runtime/net/pump.h"
#include "runtime/net/resolver.h"
#include "runtime/net/socket_address.h"
#include "runtime/net/sockets.h"
#include "runtime/net/unique_fd.h"
#include "runtime/tls/context_setup.h"
#include "runtime/tls/tls_error.h"
#include "runtime/tls/tls_transport.h"
#include "runtime/tls/verify_alert.h"

namespace palisade::identity_client {
namespace {

int ChannelIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// A control plane that vanished without a FIN (host gone, network cut) is
// noticed within about a minute instead of at TCP's retransmission limit.
// gRPC keepalive pings would do the same but servers refuse frequent pings.
void SetDeadPeerDetection(int fd) {
  const int one = 1, idle = 30, interval = 10, count = 3;
  const unsigned user_timeout_ms = 60 * 1000;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
  setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof(user_timeout_ms));
}

absl::Status SslFailure(absl::string_view what) {
  std::string detail;
  tls::DrainErrorQueue(&detail);
  return absl::InvalidArgumentError(absl::StrCat(what, ": ", detail));
}

absl::StatusOr<bssl::UniquePtr<SSL_CTX>> ClientContext(const SecureChannelOptions& options) {
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
  if (ctx == nullptr) return SslFailure("SSL_CTX_new");
  if (absl::Status s = tls::ApplyProtocolPolicy(ctx.get(), options.min_tls_version); !s.ok()) {
    return s;
  }
  static const uint8_t kAlpn[] = {2, 'h', '2'};
  SSL_CTX_set_alpn_protos(ctx.get(), kAlpn, sizeof(kAlpn));
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  if (options.client_chain.empty() != (options.client_key == nullptr)) {
    return absl::InvalidArgumentError(
        "a client certificate chain needs its key, and a key its chain");
  }
  if (!options.client_chain.empty()) {
    std::vector<X509*> chain;
    for (const auto& cert : options.client_chain) chain.push_back(cert.get());
    if (absl::Status s = tls::UseCertificateChain(ctx.get(), chain, options.client_key.get());
        !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("client SVID: ", s.message()));
    }
  }
  return ctx;
}

}  // namespace

// One connection attempt's state on the loop thread: resolve, connect,
// handshake, then the pump between TLS and our end of the socketpair.
class SecureChannel::Connection {
 public:
  Connection(SecureChannel* owner, SecureChannelOptions options, identity::SpiffeId server_id,
             net::HostPort target, bssl::UniquePtr<SSL_CTX> ctx)
      : owner_(owner),
        loop_(owner->loop_.get()),
        options_(std::move(options)),
        server_id_(std::move(server_id)),
        target_(std::move(target)),
        ctx_(std::move(ctx)),
        resolver_(loop_),
        timer_(loop_, [this] { OnTimeout(); }),
        end_(loop_, [this] { Finish(ended_status_); }) {}

  ~Connection() {
    // The pump refers to the transports, the watchers to their fds.
    pump_.reset();
    tls_watch_.reset();
    plain_watch_.reset();
  }

  void Start() {
    phase_ = Phase::kResolving;
    timer_.Arm(options_.connect_timeout);
    resolving_ = resolver_.Resolve(target_, [this](absl::StatusOr<net::SocketAddress> address) {
      resolving_.reset();
      OnResolved(std::move(address));
    });
  }

  // Close(): a polite close_notify if the connection is up, then nothing
  // more happens (the destructor frees the rest).
  void Shutdown() {
    if (phase_ == Phase::kUp && tls_ != nullptr) tls_->ShutdownWrite();
    phase_ = Phase::kDone;
    timer_.Cancel();
    end_.Cancel();
    resolving_.reset();
  }

  // BoringSSL calls this once with the server's chain; our code alone decides.
  static ssl_verify_result_t VerifyTrampoline(SSL* ssl, uint8_t* out_alert) {
    auto* connection = static_cast<Connection*>(SSL_get_ex_data(ssl, ChannelIndex()));
    if (connection == nullptr) {
      *out_alert = SSL_AD_INTERNAL_ERROR;
      return ssl_verify_invalid;  // deny unless verified
    }
    return connection->VerifyServer(ssl, out_alert);
  }

 private:
  ssl_verify_result_t VerifyServer(SSL* ssl, uint8_t* out_alert) {
    STACK_OF(X509)* stack = SSL_get_peer_full_cert_chain(ssl);
    std::vector<X509*> chain;
    for (size_t i = 0; stack != nullptr && i < sk_X509_num(stack); ++i) {
      chain.push_back(sk_X509_value(stack, i));
    }
    identity::VerifyOptions verify;
    verify.now = options_.clock();
    verify.clock_skew = options_.clock_skew;
    verify.peer_role = identity::PeerRole::kServer;
    identity::SvidVerification result = identity::VerifySvidChain(chain, options_.bundles, verify);
    if (!result.ok()) {
      verify_failure_ = absl::UnauthenticatedError(absl::StrCat(
          "TLS handshake with ", Where(), " failed: the server's certificate is not a valid ",
          "X.509-SVID under the trust bundle: ", identity::ReasonCode(result.reason), ": ",
          result.detail));
      *out_alert = tls::AlertFor(result.reason);
      return ssl_verify_invalid;
    }
    if (result.svid->spiffe_id != server_id_) {
      verify_failure_ = absl::UnauthenticatedError(absl::StrCat(
          "TLS handshake with ", Where(), " failed: wrong server identity: it presented ",
          result.svid->spiffe_id.ToString(), ", expected ", server_id_.ToString()));
      *out_alert = tls::AlertFor(identity::VerifyReason::kNotAuthorized);
      return ssl_verify_invalid;
    }
    server_ = result.svid;
    return ssl_verify_ok;
  }

  enum class Phase { kResolving, kConnecting, kHandshaking, kUp, kDone };

  std::string Where() const { return absl::StrCat("control plane ", target_.ToString()); }

  void OnResolved(absl::StatusOr<net::SocketAddress> address) {
    if (phase_ != Phase::kResolving) return;
    if (!address.ok()) {
      Finish(absl::UnavailableError(absl::StrCat(Where(), ": ", address.status().message())));
      return;
    }
    address_ = *address;
    absl::StatusOr<net::UniqueFd> fd = net::StartConnect(*address);
    if (!fd.ok()) {
      Finish(absl::UnavailableError(absl::StrCat(Where(), ": ", fd.status().message())));
      return;
    }
    phase_ = Phase::kConnecting;
    connecting_ = *std::move(fd);
    tls_watch_ = std::make_unique<event::FdWatcher>(
        loop_, connecting_.get(), [this](bool r, bool w) { OnSocketEvent(r, w); });
  }

  void OnSocketEvent(bool readable, bool writable) {
    switch (phase_) {
      case Phase::kConnecting:
        OnConnectEvent();
        return;
      case Phase::kHandshaking:
        ContinueHandshake();
        return;
      case Phase::kUp:
        pump_->OnReadiness(net::Side::kUpstream, readable, writable);
        return;
      default:
        return;
    }
  }

  void OnConnectEvent() {
    if (absl::Status result = net::ConnectResult(connecting_.get()); !result.ok()) {
      const std::string resolved = address_.ToString() == target_.ToString()
                                       ? ""
                                       : absl::StrCat(" (", address_.ToString(), ")");
      Finish(absl::UnavailableError(
          absl::StrCat("cannot connect to ", Where(), resolved, ": ", result.message())));
      return;
    }
    SetDeadPeerDetection(connecting_.get());
    bssl::UniquePtr<SSL> ssl(SSL_new(ctx_.get()));
    if (ssl == nullptr) {
      Finish(absl::ResourceExhaustedError("SSL_new failed"));
      return;
    }
    SSL_set_connect_state(ssl.get());
    SSL_set_ex_data(ssl.get(), ChannelIndex(), this);
    SSL_set_custom_verify(ssl.get(), SSL_VERIFY_PEER, &Connection::VerifyTrampoline);
    if (!net::IsIpLiteral(target_.host)) SSL_set_tlsext_host_name(ssl.get(), target_.host.c_str());
    tls_ = std::make_unique<tls::TlsTransport>(std::move(connecting_), std::move(ssl));
    phase_ = Phase::kHandshaking;
    timer_.Arm(options_.handshake_timeout);
    ContinueHandshake();
  }

  void ContinueHandshake() {
    const net::IoResult r = tls_->Handshake();
    if (r.status == net::IoStatus::kWouldBlock) return;
    if (r.status == net::IoStatus::kOk) {
      OnHandshakeDone();
      return;
    }
    if (!verify_failure_.ok()) {
      Finish(verify_failure_);
      return;
    }
    Finish(absl::UnavailableError(absl::StrCat("TLS handshake with ", Where(), " failed: ",
                                               tls_->error(), " (", tls_->error_detail(), ")")));
  }

  void OnHandshakeDone() {
    timer_.Cancel();
    if (!server_.has_value()) {
      Finish(absl::InternalError("TLS handshake finished without a verified server"));
      return;
    }
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) != 0) {
      Finish(absl::ResourceExhaustedError(absl::StrCat("socketpair: ", std::strerror(errno))));
      return;
    }
    plain_ = std::make_unique<net::PlainTransport>(net::UniqueFd(pair[0]));
    // gRPC owns pair[1] from here on and closes it with its transport.
    grpc::ChannelArguments args;
    std::shared_ptr<grpc::Channel> channel =
        grpc::CreateCustomInsecureChannelFromFd(target_.ToString(), pair[1], args);
    phase_ = Phase::kUp;
    pump_ = std::make_unique<net::Pump>(
        loop_, plain_.get(), tls_.get(), net::Pump::Options{},
        net::Pump::Callbacks{
            [this] {
              EndSoon(absl::UnavailableError(absl::StrCat(Where(), " closed the connection")));
            },
            [this](net::Side side, const std::string& reason) {
              EndSoon(side == net::Side::kUpstream
                          ? absl::UnavailableError(absl::StrCat("TLS connection to ", Where(),
                                                                " failed: ", reason, " (",
                                                                tls_->error_detail(), ")"))
                          : absl::UnavailableError(absl::StrCat("the gRPC side of the channel to ",
                                                                Where(), " failed: ", reason)));
            }});
    plain_watch_ = std::make_unique<event::FdWatcher>(loop_, plain_->fd(), [this](bool r, bool w) {
      if (phase_ == Phase::kUp) pump_->OnReadiness(net::Side::kDownstream, r, w);
    });
    owner_->OnConnected(std::move(channel), *server_);
    pump_->Start();
  }

  void OnTimeout() {
    if (phase_ == Phase::kResolving || phase_ == Phase::kConnecting) {
      Finish(absl::DeadlineExceededError(
          absl::StrCat("cannot connect to ", Where(), ": no answer within ",
                       absl::FormatDuration(options_.connect_timeout))));
    } else if (phase_ == Phase::kHandshaking) {
      Finish(absl::DeadlineExceededError(
          absl::StrCat("TLS handshake with ", Where(), " did not finish within ",
                       absl::FormatDuration(options_.handshake_timeout))));
    }
  }

  // From inside the pump's callbacks, which must not destroy it: finish on
  // the next turn (the timer dies with this object, so it never fires late).
  void EndSoon(absl::Status status) {
    if (phase_ != Phase::kUp) return;
    phase_ = Phase::kDone;
    ended_status_ = std::move(status);
    end_.Arm(absl::ZeroDuration());
  }

  // Frees the connection's resources (gRPC sees its end of the socketpair
  // close) and tells the owner why it ended.
  void Finish(absl::Status status) {
    phase_ = Phase::kDone;
    timer_.Cancel();
    resolving_.reset();
    pump_.reset();
    tls_watch_.reset();
    plain_watch_.reset();
    tls_.reset();
    plain_.reset();
    connecting_.Reset();
    owner_->OnEnded(std::move(status));
  }

  SecureChannel* const owner_;
  event::EventLoop* const loop_;
  const SecureChannelOptions options_;
  const identity::SpiffeId server_id_;
  const net::HostPort target_;
  bssl::UniquePtr<SSL_CTX> ctx_;
  net::Resolver resolver_;
  std::shared_ptr<void> resolving_;
  event::Timer timer_;
  event::Timer end_;
  absl::Status ended_status_;

  Phase phase_ = Phase::kResolving;
  net::SocketAddress address_;
  net::UniqueFd connecting_;
  std::unique_ptr<tls::TlsTransport> tls_;
  std::unique_ptr<net::PlainTransport> plain_;  // our end of the socketpair
  std::unique_ptr<event::FdWatcher> tls_watch_;
  std::unique_ptr<event::FdWatcher> plain_watch_;
  std::unique_ptr<net::Pump> pump_;
  absl::Status verify_failure_;
  std::optional<identity::VerifiedSvid> server_;
};

absl::StatusOr<std::unique_ptr<SecureChannel>> SecureChannel::Start(SecureChannelOptions options) {
  absl::StatusOr<net::HostPort> target = net::HostPort::Parse(options.address);
  if (!target.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("control plane address ", options.address, ": ", target.status().message()));
  }
  absl::StatusOr<identity::SpiffeId> server_id =
      identity::SpiffeId::Parse(options.server_spiffe_id);
  if (!server_id.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("control plane SPIFFE ID: ", server_id.status().message()));
  }
  absl::StatusOr<bssl::UniquePtr<SSL_CTX>> ctx = ClientContext(options);
  if (!ctx.ok()) return ctx.status();
  absl::StatusOr<std::unique_ptr<event::EventLoop>> loop = event::EventLoop::Create();
  if (!loop.ok()) return loop.status();

  std::unique_ptr<SecureChannel> channel(new SecureChannel(*std::move(loop)));
  SecureChannel* self = channel.get();
  // Built before the loop thread exists, then started on it: from here on
  // only the loop thread touches the connection.
  self->connection_ = std::make_unique<Connection>(self, std::move(options), *std::move(server_id),
                                                   *std::move(target), *std::move(ctx));
  self->loop_->Post([self] { self->connection_->Start(); });
  self->thread_ = std::thread([self] {
    // BoringSSL writes with write(2): a peer that is gone must be an EPIPE on
    // this thread, not a process-killing SIGPIPE, whatever the process does.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    self->loop_->Run();
  });
  return channel;
}

absl::StatusOr<std::unique_ptr<SecureChannel>> SecureChannel::Connect(
    SecureChannelOptions options) {
  absl::StatusOr<std::unique_ptr<SecureChannel>> channel = Start(std::move(options));
  if (!channel.ok()) return channel.status();
  if (absl::Status s = (*channel)->WaitConnected(); !s.ok()) return s;
  return channel;
}

SecureChannel::SecureChannel(std::unique_ptr<event::EventLoop> loop) : loop_(std::move(loop)) {}

SecureChannel::~SecureChannel() { Close(); }

absl::Status SecureChannel::WaitConnected() {
  sync::MutexLock lock(&mutex_);
  mutex_.Await([this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return settled_; });
  return connect_status_;
}

std::shared_ptr<grpc::Channel> SecureChannel::channel() const {
  sync::MutexLock lock(&mutex_);
  return channel_;
}

std::optional<identity::VerifiedSvid> SecureChannel::server() const {
  sync::MutexLock lock(&mutex_);
  return server_;
}

absl::Status SecureChannel::transport_status() const {
  sync::MutexLock lock(&mutex_);
  return transport_status_;
}

void SecureChannel::OnConnected(std::shared_ptr<grpc::Channel> channel,
                                identity::VerifiedSvid server) {
  sync::MutexLock lock(&mutex_);
  if (settled_) return;  // Close() came first
  settled_ = true;
  channel_ = std::move(channel);
  server_ = std::move(server);
  mutex_.NotifyAll();
}

void SecureChannel::OnEnded(absl::Status status) {
  sync::MutexLock lock(&mutex_);
  if (!settled_) {
    settled_ = true;
    connect_status_ = std::move(status);
  } else if (transport_status_.ok()) {
    transport_status_ = std::move(status);
  }
  mutex_.NotifyAll();
}

void SecureChannel::Close() {
  std::shared_ptr<grpc::Channel> channel;
  {
    sync::MutexLock lock(&mutex_);
    if (!settled_) {
      settled_ = true;
      connect_status_ =
          absl::CancelledError("the control-plane channel was closed while connecting");
    } else if (connect_status_.ok() && transport_status_.ok()) {
      transport_status_ = absl::CancelledError("the control-plane channel was closed");
    }
    channel = std::move(channel_);
    mutex_.NotifyAll();
  }
  // Every caller returns only once the loop thread is gone.
  std::call_once(torn_down_, [this] {
    loop_->Post([this] {
      if (connection_ != nullptr) connection_->Shutdown();
      connection_.reset();
    });
    loop_->Stop();
    thread_.join();
  });
}

}  // namespace palisade::identity_client
