#include "proxy/identity_client/secure_channel.h"

#include <grpcpp/create_channel_posix.h>
#include <grpcpp/support/channel_arguments.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "identity/authz_policy.h"
#include "runtime/net/plain_transport.h"
#include "runtime/net/pump.h"
#include "runtime/net/socket_address.h"
#include "runtime/net/unique_fd.h"
#include "runtime/status/status_macros.h"
#include "runtime/tls/context_setup.h"
#include "runtime/tls/tls_dialer.h"
#include "runtime/tls/tls_transport.h"

namespace palisade::identity_client {

// One connection attempt's state on the loop thread: the dialer, then the
// pump between the TLS connection and our end of the socketpair.
class SecureChannel::Connection {
 public:
  Connection(SecureChannel* owner, tls::TlsDialer::Options options)
      : owner_(owner),
        loop_(owner->loop_.get()),
        name_(options.name),
        dialer_(
            loop_, std::move(options),
            [this](absl::StatusOr<tls::TlsDialer::Dialed> dialed) { OnDialed(std::move(dialed)); }),
        end_(loop_, [this] { Finish(ended_status_); }) {}

  ~Connection() {
    // The pump refers to the transports, the watchers to their fds.
    pump_.reset();
    tls_watch_.reset();
    plain_watch_.reset();
  }

  void Start() { dialer_.Start(); }

  // Close(): a polite close_notify if the connection is up, then nothing
  // more happens (the destructor frees the rest).
  void Shutdown() {
    if (up_ && tls_ != nullptr) tls_->ShutdownWrite();
    done_ = true;
    end_.Cancel();
  }

 private:
  void OnDialed(absl::StatusOr<tls::TlsDialer::Dialed> dialed) {
    if (!dialed.ok()) {
      Finish(dialed.status());
      return;
    }
    tls_ = std::move(dialed->transport);
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) != 0) {
      Finish(absl::ResourceExhaustedError(absl::StrCat("socketpair: ", std::strerror(errno))));
      return;
    }
    plain_ = std::make_unique<net::PlainTransport>(net::UniqueFd(pair[0]));
    // gRPC owns pair[1] from here on and closes it with its transport.
    grpc::ChannelArguments args;
    std::shared_ptr<grpc::Channel> channel =
        grpc::CreateCustomInsecureChannelFromFd(owner_->target_, pair[1], args);
    up_ = true;
    pump_ = std::make_unique<net::Pump>(
        loop_, plain_.get(), tls_.get(), net::Pump::Options{},
        net::Pump::Callbacks{
            [this] {
              EndSoon(absl::UnavailableError(absl::StrCat(name_, " closed the connection")));
            },
            [this](net::Side side, const std::string& reason) {
              EndSoon(side == net::Side::kUpstream
                          ? absl::UnavailableError(absl::StrCat("TLS connection to ", name_,
                                                                " failed: ", reason, " (",
                                                                tls_->error_detail(), ")"))
                          : absl::UnavailableError(absl::StrCat("the gRPC side of the channel to ",
                                                                name_, " failed: ", reason)));
            }});
    tls_watch_ = std::make_unique<event::FdWatcher>(loop_, tls_->fd(), [this](bool r, bool w) {
      if (!done_) pump_->OnReadiness(net::Side::kUpstream, r, w);
    });
    plain_watch_ = std::make_unique<event::FdWatcher>(loop_, plain_->fd(), [this](bool r, bool w) {
      if (!done_) pump_->OnReadiness(net::Side::kDownstream, r, w);
    });
    owner_->OnConnected(std::move(channel), std::move(dialed->server));
    pump_->Start();
  }

  // From inside the pump's callbacks, which must not destroy it: finish on
  // the next turn (the timer dies with this object, so it never fires late).
  void EndSoon(absl::Status status) {
    if (done_) return;
    done_ = true;
    ended_status_ = std::move(status);
    end_.Arm(absl::ZeroDuration());
  }

  // Frees the connection's resources (gRPC sees its end of the socketpair
  // close) and tells the owner why it ended.
  void Finish(absl::Status status) {
    done_ = true;
    pump_.reset();
    tls_watch_.reset();
    plain_watch_.reset();
    tls_.reset();
    plain_.reset();
    owner_->OnEnded(std::move(status));
  }

  SecureChannel* const owner_;
  event::EventLoop* const loop_;
  const std::string name_;
  tls::TlsDialer dialer_;
  event::Timer end_;
  absl::Status ended_status_;
  bool up_ = false;
  bool done_ = false;
  std::unique_ptr<tls::TlsTransport> tls_;
  std::unique_ptr<net::PlainTransport> plain_;  // our end of the socketpair
  std::unique_ptr<event::FdWatcher> tls_watch_;
  std::unique_ptr<event::FdWatcher> plain_watch_;
  std::unique_ptr<net::Pump> pump_;
};

absl::StatusOr<std::unique_ptr<SecureChannel>> SecureChannel::Start(SecureChannelOptions options) {
  absl::StatusOr<net::HostPort> target = net::HostPort::Parse(options.address);
  if (!target.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("control plane address ", options.address, ": ", target.status().message()));
  }
  absl::StatusOr<identity::AuthorizationPolicy> expected =
      identity::AuthorizationPolicy::Create({options.server_spiffe_id}, {}, {});
  if (!expected.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("control plane SPIFFE ID: ", expected.status().message()));
  }
  if (options.client_chain.empty() != (options.client_key == nullptr)) {
    return absl::InvalidArgumentError(
        "a client certificate chain needs its key, and a key its chain");
  }
  tls::ContextOptions context;
  context.role = tls::Role::kClient;
  context.min_version = options.min_tls_version;
  context.alpn = std::string("\x02h2", 3);
  for (const auto& cert : options.client_chain) context.chain.push_back(cert.get());
  context.key = options.client_key.get();
  absl::StatusOr<bssl::UniquePtr<SSL_CTX>> ctx = tls::NewContext(context);
  if (!ctx.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("client SVID: ", ctx.status().message()));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<event::EventLoop> loop, event::EventLoop::Create());

  tls::TlsDialer::Options dial;
  dial.target = *target;
  dial.name = absl::StrCat("control plane ", target->ToString());
  dial.context = *std::move(ctx);
  dial.bundles = std::move(options.bundles);
  dial.expected = *std::move(expected);
  dial.expected_description = options.server_spiffe_id;
  dial.connect_timeout = options.connect_timeout;
  dial.handshake_timeout = options.handshake_timeout;
  dial.clock_skew = options.clock_skew;
  dial.clock = std::move(options.clock);

  std::unique_ptr<SecureChannel> channel(new SecureChannel(std::move(loop)));
  SecureChannel* self = channel.get();
  self->target_ = target->ToString();
  // Built before the loop thread exists, then started on it: from here on
  // only the loop thread touches the connection.
  self->connection_ = std::make_unique<Connection>(self, std::move(dial));
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
  ASSIGN_OR_RETURN(std::unique_ptr<SecureChannel> channel, Start(std::move(options)));
  RETURN_IF_ERROR(channel->WaitConnected());
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
