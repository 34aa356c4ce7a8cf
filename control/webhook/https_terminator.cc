#include "control/webhook/https_terminator.h"

#include <pthread.h>
#include <sys/socket.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/files/files.h"
#include "identity/certificate.h"
#include "identity/keys.h"
#include "runtime/net/plain_transport.h"
#include "runtime/net/pump.h"
#include "runtime/net/sockets.h"
#include "runtime/tls/context_setup.h"
#include "runtime/tls/tls_error.h"
#include "runtime/tls/tls_transport.h"

namespace palisade::control {
namespace {

absl::StatusOr<bssl::UniquePtr<SSL_CTX>> MakeContext(const HttpsTerminator::Options& o) {
  absl::StatusOr<std::string> chain_pem =
      files::ReadSmallFile(o.certificate_chain_file, "certificate file");
  if (!chain_pem.ok()) return chain_pem.status();
  auto chain = identity::ParsePemCertificates(*chain_pem);
  if (!chain.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(o.certificate_chain_file, ": ", chain.status().message()));
  }
  absl::StatusOr<std::string> key_pem = files::ReadSmallFile(o.private_key_file, "key file");
  if (!key_pem.ok()) return key_pem.status();
  auto key = identity::ParsePrivateKeyPem(*key_pem);
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(o.private_key_file, ": ", key.status().message()));
  }
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
  if (ctx == nullptr) return absl::ResourceExhaustedError("SSL_CTX_new failed");
  std::vector<X509*> certs;
  for (const auto& cert : *chain) certs.push_back(cert.get());
  if (absl::Status s = tls::ApplyProtocolPolicy(ctx.get(), TLS1_2_VERSION); !s.ok()) return s;
  if (absl::Status s = tls::UseCertificateChain(ctx.get(), certs, key->get()); !s.ok()) {
    // Names both files: a key that does not match its certificate is the usual cause.
    return absl::InvalidArgumentError(
        absl::StrCat(o.certificate_chain_file, " with ", o.private_key_file, ": ", s.message()));
  }
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  return ctx;
}

}  // namespace

// One client: TLS handshake, connect to the backend, pump until both ends close.
class HttpsTerminator::Connection {
 public:
  Connection(HttpsTerminator* owner, net::UniqueFd fd)
      : owner_(owner), timer_(owner->loop_.get(), [this] { OnTimer(); }) {
    bssl::UniquePtr<SSL> ssl = owner->NewSsl();
    if (ssl == nullptr) {
      done_ = true;  // out of memory: drop this client, nothing to undo
      owner->Release(this);
      return;
    }
    SSL_set_accept_state(ssl.get());
    const int raw = fd.get();
    tls_ = std::make_unique<tls::TlsTransport>(std::move(fd), std::move(ssl));
    client_watch_ = std::make_unique<event::FdWatcher>(
        owner->loop_.get(), raw, [this](bool r, bool w) { OnEvent(net::Side::kDownstream, r, w); });
    timer_.Arm(owner->options_.handshake_timeout);
    Handshake();
  }

 private:
  void Handshake() {
    const net::IoResult r = tls_->Handshake();
    if (r.status == net::IoStatus::kWouldBlock) return;
    if (r.status != net::IoStatus::kOk) return Done();
    absl::StatusOr<net::UniqueFd> backend = net::StartConnect(owner_->options_.backend);
    if (!backend.ok()) return Done();
    const int raw = backend->get();
    backend_fd_ = *std::move(backend);
    backend_watch_ = std::make_unique<event::FdWatcher>(
        owner_->loop_.get(), raw, [this](bool r, bool w) { OnEvent(net::Side::kUpstream, r, w); });
    handshaken_ = true;
  }

  void OnEvent(net::Side side, bool readable, bool writable) {
    if (done_) return;
    if (!handshaken_) {
      if (side == net::Side::kDownstream) Handshake();
      return;
    }
    if (pump_ == nullptr) {
      if (side != net::Side::kUpstream || !net::ConnectResult(backend_fd_.get()).ok()) {
        if (side == net::Side::kUpstream) Done();
        return;
      }
      backend_ = std::make_unique<net::PlainTransport>(std::move(backend_fd_));
      pump_ = std::make_unique<net::Pump>(
          owner_->loop_.get(), tls_.get(), backend_.get(), net::Pump::Options{},
          net::Pump::Callbacks{[this] { Done(); },
                               [this](net::Side, const std::string&) { Done(); }});
      timer_.Arm(owner_->options_.idle_timeout);
      pump_->Start();
      return;
    }
    pump_->OnReadiness(side, readable, writable);
  }

  // Handshake deadline, or no bytes either way for idle_timeout.
  void OnTimer() {
    if (pump_ != nullptr) {
      const absl::Duration quiet = absl::Now() - pump_->last_activity();
      if (quiet < owner_->options_.idle_timeout) {
        timer_.Arm(owner_->options_.idle_timeout - quiet);
        return;
      }
    }
    Done();
  }

  void Done() {
    if (done_) return;
    done_ = true;
    timer_.Cancel();
    owner_->Release(this);
  }

  HttpsTerminator* owner_;
  std::unique_ptr<tls::TlsTransport> tls_;
  net::UniqueFd backend_fd_;
  std::unique_ptr<net::PlainTransport> backend_;
  std::unique_ptr<event::FdWatcher> client_watch_;
  std::unique_ptr<event::FdWatcher> backend_watch_;
  std::unique_ptr<net::Pump> pump_;
  event::Timer timer_;
  bool handshaken_ = false;
  bool done_ = false;
};

absl::StatusOr<std::unique_ptr<HttpsTerminator>> HttpsTerminator::Start(Options options) {
  absl::StatusOr<bssl::UniquePtr<SSL_CTX>> ctx = MakeContext(options);
  if (!ctx.ok()) return ctx.status();
  absl::StatusOr<net::UniqueFd> listener = net::BindListener(options.listen, false, 128);
  if (!listener.ok()) return listener.status();
  absl::StatusOr<net::SocketAddress> address = net::LocalAddressOf(listener->get());
  if (!address.ok()) return address.status();
  absl::StatusOr<std::unique_ptr<event::EventLoop>> loop = event::EventLoop::Create();
  if (!loop.ok()) return loop.status();
  std::unique_ptr<HttpsTerminator> t(new HttpsTerminator(
      std::move(options), *std::move(ctx), *std::move(listener), *address, *std::move(loop)));
  HttpsTerminator* raw = t.get();
  t->thread_ = std::thread([raw] {
    pthread_setname_np(pthread_self(), "palisade-webhook");
    raw->accept_watch_ = std::make_unique<event::FdWatcher>(raw->loop_.get(), raw->listener_.get(),
                                                            [raw](bool r, bool) {
                                                              if (r) raw->AcceptAll();
                                                            });
    raw->loop_->Run();
    raw->connections_.clear();
    raw->accept_watch_.reset();
  });
  return t;
}

HttpsTerminator::HttpsTerminator(Options options, bssl::UniquePtr<SSL_CTX> ctx,
                                 net::UniqueFd listener, net::SocketAddress address,
                                 std::unique_ptr<event::EventLoop> loop)
    : options_(std::move(options)),
      ctx_(std::move(ctx)),
      listener_(std::move(listener)),
      address_(address),
      loop_(std::move(loop)) {}

bssl::UniquePtr<SSL> HttpsTerminator::NewSsl() {
  sync::MutexLock lock(&ctx_mu_);
  return bssl::UniquePtr<SSL>(SSL_new(ctx_.get()));  // holds its own reference to the context
}

absl::StatusOr<bool> HttpsTerminator::ReloadCertificate() {
  absl::StatusOr<bssl::UniquePtr<SSL_CTX>> fresh = MakeContext(options_);
  if (!fresh.ok()) return fresh.status();
  sync::MutexLock lock(&ctx_mu_);
  if (X509_cmp(SSL_CTX_get0_certificate(ctx_.get()), SSL_CTX_get0_certificate(fresh->get())) == 0) {
    return false;
  }
  ctx_ = *std::move(fresh);
  return true;
}

HttpsTerminator::~HttpsTerminator() {
  if (thread_.joinable()) {
    loop_->Stop();
    thread_.join();
  }
}

void HttpsTerminator::AcceptAll() {
  for (;;) {
    const int fd = accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // EAGAIN: all taken; other errors: try again on the next edge
    }
    net::UniqueFd accepted(fd);
    if (connections_.size() >= options_.max_connections) continue;  // refused
    auto connection = std::make_unique<Connection>(this, std::move(accepted));
    Connection* raw = connection.get();
    connections_.emplace(raw, std::move(connection));
  }
}

void HttpsTerminator::Release(Connection* connection) {
  loop_->Post([this, connection] { connections_.erase(connection); });
}

}  // namespace palisade::control
