#include "control/service/tls_front_end.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "identity/certificate.h"
#include "identity/svid_verifier.h"
#include "runtime/log/logging.h"
#include "runtime/net/plain_transport.h"
#include "runtime/net/pump.h"
#include "runtime/net/sockets.h"
#include "runtime/tls/tls_transport.h"
#include "runtime/tls/verify_alert.h"

namespace palisade::control {

// One proxy's connection: TLS handshake, then a loopback connection to the
// gRPC server, then the pump. Loop thread only.
class TlsFrontEnd::Connection : public tls::TlsConnectionHooks {
 public:
  Connection(TlsFrontEnd* owner, net::UniqueFd fd, net::SocketAddress remote)
      : owner_(owner),
        remote_(remote),
        credentials_(owner->credentials()),
        timer_(owner->loop_.get(), [this] { Close("handshake_timeout"); }) {
    bssl::UniquePtr<SSL> ssl = credentials_->tls->NewServerSsl();
    if (ssl != nullptr) {
      // The client certificate is optional here: a proxy's first contact has
      // none. When one is sent it must verify (VerifyPeer).
      tls::AttachHooks(ssl.get(), this);
      tls::MakeClientCertificateOptional(ssl.get());
    }
    const int fd_number = fd.get();
    ok_ = ssl != nullptr;
    tls_ = std::make_unique<tls::TlsTransport>(std::move(fd), std::move(ssl));
    down_watch_ = std::make_unique<event::FdWatcher>(
        owner->loop_.get(), fd_number,
        [this](bool r, bool w) { OnEvent(net::Side::kDownstream, r, w); });
  }

  ~Connection() override {
    pump_.reset();
    down_watch_.reset();
    up_watch_.reset();
    if (!peer_key_.empty()) owner_->peers_->Remove(peer_key_);
  }

  void Start() {
    if (!ok_) {
      Close("internal_error");
      return;
    }
    timer_.Arm(owner_->options_.handshake_timeout);
    Handshake();
  }

 private:
  enum class Phase { kHandshaking, kConnecting, kPumping, kDone };

  ssl_verify_result_t VerifyPeer(SSL* ssl, uint8_t* out_alert) override {
    STACK_OF(X509)* stack = SSL_get_peer_full_cert_chain(ssl);
    std::vector<X509*> chain;
    if (stack != nullptr) {
      for (size_t i = 0; i < sk_X509_num(stack); ++i) chain.push_back(sk_X509_value(stack, i));
    }
    if (chain.empty()) return ssl_verify_ok;  // no certificate: a bootstrap
    identity::VerifyOptions options;
    options.now = owner_->options_.clock();
    options.clock_skew = owner_->options_.clock_skew;
    options.peer_role = identity::PeerRole::kClient;
    options.expected_trust_domain = owner_->options_.trust_domain;
    identity::SvidVerification v = identity::VerifySvidChain(chain, credentials_->bundles, options);
    if (!v.ok()) {
      failure_ = absl::StrCat(identity::ReasonCode(v.reason));
      failure_detail_ = v.detail;
      *out_alert = tls::AlertFor(v.reason);
      return ssl_verify_invalid;
    }
    peer_.spiffe_id = v.svid->spiffe_id;
    peer_.serial = v.svid->leaf_serial;
    peer_.root_fingerprint = v.svid->root_fingerprint;
    peer_.not_after = v.svid->leaf_not_after;
    return ssl_verify_ok;
  }

  void Handshake() {
    const net::IoResult r = tls_->Handshake();
    if (r.status == net::IoStatus::kWouldBlock) return;
    if (r.status != net::IoStatus::kOk) {
      const std::string reason = failure_.empty() ? tls_->error() : failure_;
      if (owner_->metrics_ != nullptr) owner_->metrics_->OnHandshake(reason);
      if (log::ShouldLog(log::Level::kDebug, "control")) {
        log::LogEvent(log::Level::kDebug, "control", "identity port handshake failed",
                      {{"remote", remote_.ToString()},
                       {"reason", reason},
                       {"detail", failure_.empty() ? tls_->error_detail() : failure_detail_}});
      }
      Close(reason);
      return;
    }
    if (owner_->metrics_ != nullptr) {
      owner_->metrics_->OnHandshake(peer_.spiffe_id.has_value() ? "ok_svid" : "ok_no_certificate");
    }
    peer_.remote_address = remote_.ToString();
    absl::StatusOr<net::UniqueFd> up = net::StartConnect(owner_->options_.backend);
    if (!up.ok()) {
      Close("backend_connect_failed");
      return;
    }
    absl::StatusOr<net::SocketAddress> local = net::LocalAddressOf(up->get());
    if (!local.ok()) {
      Close("backend_connect_failed");
      return;
    }
    // Recorded before the gRPC server can see the connection, so its first
    // look-up finds it.
    peer_key_ = PeerTable::KeyFor(*local);
    owner_->peers_->Add(peer_key_, peer_);
    connecting_ = *std::move(up);
    phase_ = Phase::kConnecting;
    up_watch_ = std::make_unique<event::FdWatcher>(
        owner_->loop_.get(), connecting_.get(),
        [this](bool r, bool w) { OnEvent(net::Side::kUpstream, r, w); });
  }

  void Connected() {
    if (!net::ConnectResult(connecting_.get()).ok()) {
      Close("backend_connect_failed");
      return;
    }
    net::SetNoDelay(connecting_.get());
    timer_.Cancel();
    upstream_ = std::make_unique<net::PlainTransport>(std::move(connecting_));
    phase_ = Phase::kPumping;
    pump_ = std::make_unique<net::Pump>(
        owner_->loop_.get(), tls_.get(), upstream_.get(), net::Pump::Options{},
        net::Pump::Callbacks{[this] { Close("done"); },
                             [this](net::Side, const std::string& reason) { Close(reason); }});
    pump_->Start();
  }

  void OnEvent(net::Side side, bool readable, bool writable) {
    switch (phase_) {
      case Phase::kHandshaking:
        if (side == net::Side::kDownstream) Handshake();
        return;
      case Phase::kConnecting:
        if (side == net::Side::kUpstream) Connected();
        return;
      case Phase::kPumping:
        pump_->OnReadiness(side, readable, writable);
        return;
      case Phase::kDone:
        return;
    }
  }

  void Close(const std::string& reason) {
    if (phase_ == Phase::kDone) return;
    phase_ = Phase::kDone;
    timer_.Cancel();
    // Destroyed on the next turn: we may be inside the pump's callback.
    TlsFrontEnd* owner = owner_;
    owner->loop_->Post([owner, this] { owner->Release(this); });
  }

  TlsFrontEnd* const owner_;
  const net::SocketAddress remote_;
  const std::shared_ptr<const Credentials> credentials_;
  bool ok_ = false;
  Phase phase_ = Phase::kHandshaking;
  std::unique_ptr<tls::TlsTransport> tls_;
  net::UniqueFd connecting_;
  std::unique_ptr<net::Transport> upstream_;
  std::unique_ptr<event::FdWatcher> down_watch_;
  std::unique_ptr<event::FdWatcher> up_watch_;
  std::unique_ptr<net::Pump> pump_;
  event::Timer timer_;
  PeerIdentity peer_;
  std::string peer_key_;
  std::string failure_;
  std::string failure_detail_;
};

absl::StatusOr<std::unique_ptr<TlsFrontEnd>> TlsFrontEnd::Create(Options options, PeerTable* peers,
                                                                 ControlMetrics* metrics) {
  absl::StatusOr<net::UniqueFd> listener =
      net::BindListener(options.listen, /*reuse_port=*/false, 4096);
  if (!listener.ok()) {
    return absl::Status(listener.status().code(),
                        absl::StrCat("identity port ", options.listen.ToString(), ": ",
                                     listener.status().message()));
  }
  absl::StatusOr<net::SocketAddress> bound = net::LocalAddressOf(listener->get());
  if (!bound.ok()) return bound.status();
  absl::StatusOr<std::unique_ptr<event::EventLoop>> loop = event::EventLoop::Create();
  if (!loop.ok()) return loop.status();
  return std::unique_ptr<TlsFrontEnd>(new TlsFrontEnd(
      std::move(options), peers, metrics, *std::move(listener), *bound, *std::move(loop)));
}

TlsFrontEnd::TlsFrontEnd(Options options, PeerTable* peers, ControlMetrics* metrics,
                         net::UniqueFd listener, net::SocketAddress address,
                         std::unique_ptr<event::EventLoop> loop)
    : options_(std::move(options)),
      peers_(peers),
      metrics_(metrics),
      listener_(std::move(listener)),
      address_(address),
      loop_(std::move(loop)) {
  max_connections_ = options_.max_connections;
  if (max_connections_ == 0) {
    rlimit limit;
    const rlim_t fds = getrlimit(RLIMIT_NOFILE, &limit) == 0 ? limit.rlim_cur : 1024;
    constexpr rlim_t kReserve = 256;  // state files, admin API, gRPC internals
    max_connections_ = fds > 2 * kReserve ? static_cast<size_t>((fds - kReserve) / 3) : 64;
  }
}

TlsFrontEnd::~TlsFrontEnd() { Stop(); }

absl::Status TlsFrontEnd::SetCredentials(const std::vector<X509*>& chain, EVP_PKEY* key,
                                         identity::TrustBundleSet bundles) {
  tls::TlsSettings settings;
  settings.min_version = TLS1_2_VERSION;
  settings.session_resumption = false;
  absl::StatusOr<std::shared_ptr<const tls::TlsContext>> context =
      tls::TlsContext::Create(chain, key, settings, nullptr);
  if (!context.ok()) return context.status();
  auto credentials = std::make_shared<Credentials>();
  credentials->tls = *std::move(context);
  credentials->bundles = std::move(bundles);
  sync::MutexLock lock(&mu_);
  credentials_ = std::move(credentials);
  return absl::OkStatus();
}

std::shared_ptr<const TlsFrontEnd::Credentials> TlsFrontEnd::credentials() const {
  sync::MutexLock lock(&mu_);
  return credentials_;
}

absl::Status TlsFrontEnd::Start() {
  if (credentials() == nullptr) {
    return absl::FailedPreconditionError("the identity port needs a serving SVID first");
  }
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "palisade-tls");
    accept_watch_ = std::make_unique<event::FdWatcher>(loop_.get(), listener_.get(),
                                                       [this](bool readable, bool) {
                                                         if (readable) AcceptAll();
                                                       });
    accept_retry_ = std::make_unique<event::Timer>(loop_.get(), [this] { AcceptAll(); });
    AcceptAll();
    loop_->Run();
    // Stopping: close every connection on this thread before the loop goes.
    live_.clear();
    accept_retry_.reset();
    accept_watch_.reset();
  });
  return absl::OkStatus();
}

void TlsFrontEnd::Stop() {
  if (!thread_.joinable()) return;
  loop_->Stop();
  thread_.join();
}

void TlsFrontEnd::AcceptAll() {
  // Edge-triggered: drain the queue, a bounded batch per turn.
  for (int i = 0; i < 256; ++i) {
    sockaddr_storage remote{};
    socklen_t length = sizeof(remote);
    const int fd = accept4(listener_.get(), reinterpret_cast<sockaddr*>(&remote), &length,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: the queue keeps them; try again shortly.
        if (metrics_ != nullptr) metrics_->OnHandshake("refused_fd_limit");
        accept_retry_->Arm(absl::Milliseconds(100));
      }
      return;
    }
    if (connections_.load(std::memory_order_relaxed) >= max_connections_) {
      ::close(fd);
      if (metrics_ != nullptr) metrics_->OnHandshake("refused_max_connections");
      continue;
    }
    net::SetNoDelay(fd);
    auto connection = std::make_unique<Connection>(
        this, net::UniqueFd(fd),
        net::SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&remote), length));
    Connection* raw = connection.get();
    live_.emplace(raw, std::move(connection));
    connections_.fetch_add(1, std::memory_order_relaxed);
    raw->Start();
  }
  loop_->Post([this] { AcceptAll(); });
}

void TlsFrontEnd::Release(Connection* connection) {
  if (live_.erase(connection) > 0) connections_.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace palisade::control
