#include "runtime/tls/tls_terminator.h"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/net/plain_transport.h"
#include "runtime/net/pump.h"
#include "runtime/net/sockets.h"
#include "runtime/status/status_macros.h"
#include "runtime/tls/tls_transport.h"

namespace palisade::tls {
namespace {

// Descriptors the terminator may hold: the limit less a reserve for state
// files, the admin API and gRPC's internals.
size_t DescriptorBudget() {
  rlimit limit;
  const rlim_t fds = getrlimit(RLIMIT_NOFILE, &limit) == 0 ? limit.rlim_cur : 1024;
  constexpr rlim_t kReserve = 256;
  return fds > 2 * kReserve ? static_cast<size_t>(fds - kReserve) : 256;
}

}  // namespace

// One client: handshake, connect to the backend, pump; or, after a failed
// handshake, linger until the client has read our alert. Loop thread only.
class TlsTerminator::Connection {
 public:
  Connection(TlsTerminator* owner, uint64_t id, net::UniqueFd fd, net::SocketAddress remote)
      : owner_(owner),
        id_(id),
        loop_(owner->loop_.get()),
        remote_(remote),
        source_(remote.HostString()),
        credentials_(owner->credentials()),
        timer_(loop_, [this] { OnTimer(); }) {
    bssl::UniquePtr<SSL> ssl(SSL_new(credentials_->context.get()));
    if (ssl != nullptr) SSL_set_accept_state(ssl.get());
    ok_ = ssl != nullptr;
    const int raw = fd.get();
    tls_ = std::make_unique<TlsTransport>(std::move(fd), std::move(ssl));
    client_watch_ = std::make_unique<event::FdWatcher>(
        loop_, raw, [this](bool r, bool w) { OnEvent(net::Side::kDownstream, r, w); });
  }

  ~Connection() {
    // The pump refers to the transports, the watchers to their fds, the
    // handshaker to the TLS transport's SSL.
    pump_.reset();
    client_watch_.reset();
    backend_watch_.reset();
    handshaker_.reset();
    if (forwarding_ && owner_->events_.on_forward_end) owner_->events_.on_forward_end(forwarder_);
  }

  void Start() {
    if (!ok_) {
      Close();
      return;
    }
    const Options& o = owner_->options_;
    Handshaker::Options options;
    options.timeout = o.handshake_timeout;
    options.clock = o.clock;
    options.check.bundles = &credentials_->bundles;
    options.check.verify.clock_skew = o.clock_skew;
    options.check.verify.peer_role = identity::PeerRole::kClient;
    options.check.verify.expected_trust_domain = o.expected_trust_domain;
    options.check.certificate_optional = o.client_certificates != PeerCertificates::kRequired;
    handshaker_ = std::make_unique<Handshaker>(
        loop_, tls_.get(), std::move(options),
        Handshaker::Callbacks{[this](const HandshakeResult& r) { OnHandshake(r); }, nullptr});
    handshaker_->Start();
  }

  // Closed by the terminator (to make room for a newer pending connection),
  // never from inside this connection's callbacks: its handshake can stop now.
  void Evict() {
    handshaker_.reset();
    Close();
  }

  bool established() const { return established_; }
  bool anonymous() const { return anonymous_; }
  const std::string& source() const { return source_; }

 private:
  enum class Phase { kHandshaking, kConnecting, kPumping, kLingering, kDone };

  void OnHandshake(const HandshakeResult& result) {
    if (phase_ != Phase::kHandshaking) return;
    if (owner_->events_.on_handshake) owner_->events_.on_handshake(result, remote_);
    if (!result.ok) {
      Linger();  // still pending: a flood of failures evicts its own
      return;
    }
    const bool anonymous = result.peer.anonymous();
    if (const std::string refused = owner_->Establish(id_, anonymous, source_); !refused.empty()) {
      owner_->Refuse(refused);
      Close();
      return;
    }
    established_ = true;
    anonymous_ = anonymous;
    absl::StatusOr<net::UniqueFd> backend = net::StartConnect(owner_->options_.backend);
    absl::StatusOr<net::SocketAddress> local =
        backend.ok() ? net::LocalAddressOf(backend->get()) : backend.status();
    if (!local.ok()) {
      Close();
      return;
    }
    // Told before any byte goes to the backend, so its first look-up finds it.
    forwarder_ = *local;
    forwarding_ = true;
    if (owner_->events_.on_forward) owner_->events_.on_forward(forwarder_, result.peer, remote_);
    connecting_ = *std::move(backend);
    phase_ = Phase::kConnecting;
    backend_watch_ = std::make_unique<event::FdWatcher>(
        loop_, connecting_.get(), [this](bool r, bool w) { OnEvent(net::Side::kUpstream, r, w); });
  }

  void OnBackendConnected() {
    if (!net::ConnectResult(connecting_.get()).ok()) {
      Close();
      return;
    }
    net::SetNoDelay(connecting_.get());
    backend_ = std::make_unique<net::PlainTransport>(std::move(connecting_));
    phase_ = Phase::kPumping;
    pump_ = std::make_unique<net::Pump>(
        loop_, tls_.get(), backend_.get(), net::Pump::Options{},
        net::Pump::Callbacks{[this] { Close(); },
                             [this](net::Side, const std::string&) { Close(); }});
    pumping_since_ = owner_->options_.clock();
    const absl::Duration first =
        std::min(owner_->options_.first_byte_timeout, owner_->options_.idle_timeout);
    if (first != absl::InfiniteDuration()) timer_.Arm(first);
    pump_->Start();
  }

  void Linger() {
    phase_ = Phase::kLingering;
    shutdown(tls_->fd(), SHUT_WR);
    timer_.Arm(owner_->options_.linger);
    DrainClient();
  }

  // Reads and drops what the client still sends, until it closes.
  void DrainClient() {
    char buffer[4096];
    for (int i = 0; i < 64; ++i) {
      const ssize_t n = read(tls_->fd(), buffer, sizeof(buffer));
      if (n > 0) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      Close();  // EOF or an error
      return;
    }
  }

  void OnEvent(net::Side side, bool readable, bool writable) {
    switch (phase_) {
      case Phase::kHandshaking:
        if (side == net::Side::kDownstream) handshaker_->OnReadiness();
        return;
      case Phase::kConnecting:
        if (side == net::Side::kUpstream) OnBackendConnected();
        return;
      case Phase::kPumping:
        pump_->OnReadiness(side, readable, writable);
        return;
      case Phase::kLingering:
        if (side == net::Side::kDownstream) DrainClient();
        return;
      case Phase::kDone:
        return;
    }
  }

  // The linger time is up, the client sent nothing after its handshake,
  // or no byte moved for the idle timeout.
  void OnTimer() {
    if (phase_ == Phase::kPumping) {
      const Options& o = owner_->options_;
      const absl::Time now = o.clock();
      if (!spoke_ && pump_->bytes_from_downstream() > 0) spoke_ = true;
      if (!spoke_ && o.first_byte_timeout != absl::InfiniteDuration()) {
        if (now - pumping_since_ >= o.first_byte_timeout) {
          owner_->Refuse("first_byte_timeout");
          Close();
          return;
        }
        timer_.Arm(std::min(o.first_byte_timeout - (now - pumping_since_), o.idle_timeout));
        return;
      }
      if (o.idle_timeout == absl::InfiniteDuration()) return;
      const absl::Duration quiet = now - pump_->last_activity();
      if (quiet < o.idle_timeout) {
        timer_.Arm(o.idle_timeout - quiet);
        return;
      }
    }
    Close();
  }

  void Close() {
    if (phase_ == Phase::kDone) return;
    phase_ = Phase::kDone;
    timer_.Cancel();
    owner_->Release(id_);
  }

  TlsTerminator* const owner_;
  const uint64_t id_;
  event::EventLoop* const loop_;
  const net::SocketAddress remote_;
  const std::string source_;  // the IP address, no port
  const std::shared_ptr<const Credentials> credentials_;
  bool ok_ = false;
  Phase phase_ = Phase::kHandshaking;
  std::unique_ptr<TlsTransport> tls_;
  std::unique_ptr<Handshaker> handshaker_;
  net::UniqueFd connecting_;
  std::unique_ptr<net::PlainTransport> backend_;
  std::unique_ptr<event::FdWatcher> client_watch_;
  std::unique_ptr<event::FdWatcher> backend_watch_;
  std::unique_ptr<net::Pump> pump_;
  event::Timer timer_;
  net::SocketAddress forwarder_;
  bool forwarding_ = false;
  bool established_ = false;  // counted in the terminator's established bounds
  bool anonymous_ = false;
  bool spoke_ = false;  // the client sent a byte since the handshake
  absl::Time pumping_since_;
};

TlsTerminator::Limits TlsTerminator::EffectiveLimits(const Options& options) {
  const size_t budget = DescriptorBudget();
  Limits limits;
  limits.max_pending =
      options.max_pending > 0 ? options.max_pending : std::clamp<size_t>(budget / 4, 16, 1024);
  limits.max_connections =
      options.max_connections > 0
          ? options.max_connections
          : std::max<size_t>(budget > limits.max_pending ? (budget - limits.max_pending) / 3 : 0,
                             16);
  return limits;
}

absl::StatusOr<std::unique_ptr<TlsTerminator>> TlsTerminator::Create(Options options,
                                                                     Events events) {
  ASSIGN_OR_RETURN(net::UniqueFd listener,
                   net::BindListener(options.listen, /*reuse_port=*/false, options.backlog));
  ASSIGN_OR_RETURN(net::SocketAddress address, net::LocalAddressOf(listener.get()));
  ASSIGN_OR_RETURN(std::unique_ptr<event::EventLoop> loop, event::EventLoop::Create());
  return std::unique_ptr<TlsTerminator>(new TlsTerminator(
      std::move(options), std::move(events), std::move(listener), address, std::move(loop)));
}

TlsTerminator::TlsTerminator(Options options, Events events, net::UniqueFd listener,
                             net::SocketAddress address, std::unique_ptr<event::EventLoop> loop)
    : options_(std::move(options)),
      events_(std::move(events)),
      limits_(EffectiveLimits(options_)),
      listener_(std::move(listener)),
      address_(address),
      loop_(std::move(loop)),
      pending_(
          net::PendingConnections::Limits{limits_.max_pending, options_.max_pending_per_source}) {}

TlsTerminator::~TlsTerminator() { Stop(); }

void TlsTerminator::SetCredentials(std::shared_ptr<const Credentials> credentials) {
  sync::MutexLock lock(&mu_);
  credentials_ = std::move(credentials);
}

std::shared_ptr<const TlsTerminator::Credentials> TlsTerminator::credentials() const {
  sync::MutexLock lock(&mu_);
  return credentials_;
}

absl::Status TlsTerminator::Start() {
  if (credentials() == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("the TLS listener on ", address_.ToString(), " has no certificate yet"));
  }
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), options_.thread_name.substr(0, 15).c_str());
    // BoringSSL writes with write(2): a client that is gone must be an EPIPE
    // on this thread, not a process-killing SIGPIPE.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    acceptor_ = std::make_unique<net::Acceptor>(
        loop_.get(), listener_.get(),
        [this](net::UniqueFd fd, const net::SocketAddress& remote) {
          OnAccepted(std::move(fd), remote);
        },
        [this](const char* reason) { Refuse(reason); });
    acceptor_->Start();
    loop_->Run();
    // Stopping: close every connection on this thread before the loop goes.
    CloseAll();
    acceptor_.reset();
  });
  return absl::OkStatus();
}

void TlsTerminator::Stop() {
  if (!thread_.joinable()) return;
  loop_->Stop();
  thread_.join();
}

void TlsTerminator::OnAccepted(net::UniqueFd fd, const net::SocketAddress& remote) {
  if (!serving_.load(std::memory_order_relaxed)) {
    Refuse("not_serving");
    return;  // closing `fd` refuses it
  }
  // No room even for an SVID: not worth a handshake.
  if (established_ >= limits_.max_connections) {
    Refuse("max_connections");
    return;
  }
  const uint64_t id = next_id_++;
  if (std::optional<uint64_t> evict = pending_.Admit(id, remote); evict.has_value()) {
    auto found = live_.find(*evict);
    if (found != live_.end()) {
      Refuse("pending_evicted");
      found->second->Evict();
    } else {
      pending_.Finish(*evict);
    }
  }
  auto connection = std::make_unique<Connection>(this, id, std::move(fd), remote);
  Connection* raw = connection.get();
  live_.emplace(id, std::move(connection));
  live_count_.store(live_.size(), std::memory_order_relaxed);
  raw->Start();
}

std::string TlsTerminator::Establish(uint64_t id, bool anonymous, const std::string& source) {
  pending_.Finish(id);  // no longer pending, either way
  if (established_ >= limits_.max_connections) return "max_connections";
  if (anonymous) {
    const size_t reserve = std::min(options_.reserved_for_svids, limits_.max_connections);
    if (anonymous_ >= limits_.max_connections - reserve) return "anonymous_limit";
    if (options_.max_anonymous_per_source > 0) {
      auto from = anonymous_by_source_.find(source);
      if (from != anonymous_by_source_.end() && from->second >= options_.max_anonymous_per_source) {
        return "anonymous_per_source";
      }
    }
    ++anonymous_by_source_[source];
    ++anonymous_;
  }
  ++established_;
  return "";
}

std::vector<std::string> TlsTerminator::KnownRefusalReasons() {
  // Kept beside Refuse's callers in this file and the acceptor's "fd_limit".
  return {"max_connections",   "fd_limit",        "not_serving",
          "pending_evicted",   "anonymous_limit", "anonymous_per_source",
          "first_byte_timeout"};
}

void TlsTerminator::Refuse(absl::string_view reason) {
  if (events_.on_refused) events_.on_refused(reason);
}

void TlsTerminator::Release(uint64_t id) {
  pending_.Finish(id);
  if (auto found = live_.find(id); found != live_.end() && found->second->established()) {
    --established_;
    if (found->second->anonymous()) {
      --anonymous_;
      auto from = anonymous_by_source_.find(found->second->source());
      if (from != anonymous_by_source_.end() && --from->second == 0) {
        anonymous_by_source_.erase(from);
      }
    }
  }
  // Not now: we may be inside the connection's own callback.
  loop_->Post([this, id] {
    live_.erase(id);
    live_count_.store(live_.size(), std::memory_order_relaxed);
  });
}

void TlsTerminator::SetServing(bool serving) {
  serving_.store(serving, std::memory_order_relaxed);
  if (serving || !thread_.joinable()) return;
  sync::Notification closed;
  loop_->Post([this, &closed] {
    CloseAll();
    closed.Notify();
  });
  closed.WaitForNotification();
}

void TlsTerminator::CloseAll() {
  for (const auto& [id, connection] : live_) pending_.Finish(id);
  live_.clear();
  established_ = 0;
  anonymous_ = 0;
  anonymous_by_source_.clear();
  live_count_.store(0, std::memory_order_relaxed);
}

}  // namespace palisade::tls
