#include "proxy/identity_client/testing/test_tls_server.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "identity/svid_verifier.h"
#include "identity/verify_reason.h"
#include "runtime/net/plain_transport.h"
#include "runtime/net/pump.h"
#include "runtime/net/socket_address.h"
#include "runtime/net/sockets.h"
#include "runtime/net/unique_fd.h"
#include "runtime/tls/tls_error.h"
#include "runtime/tls/tls_transport.h"

namespace palisade::identity_client::testing {
namespace {

int ConnIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

}  // namespace

// One accepted connection, on the loop thread: handshake, then a pump to the
// backend; a failed handshake lingers so the client reads our alert before
// the socket closes (no RST over unread bytes).
struct TestTlsServer::Conn {
  ~Conn() {
    pump.reset();
    tls_watch.reset();
    backend_watch.reset();
  }

  static ssl_verify_result_t Verify(SSL* ssl, uint8_t* out_alert) {
    auto* conn = static_cast<Conn*>(SSL_get_ex_data(ssl, ConnIndex()));
    STACK_OF(X509)* stack = SSL_get_peer_full_cert_chain(ssl);
    std::vector<X509*> chain;
    for (size_t i = 0; stack != nullptr && i < sk_X509_num(stack); ++i) {
      chain.push_back(sk_X509_value(stack, i));
    }
    identity::VerifyOptions options;
    options.now = absl::Now();
    options.peer_role = identity::PeerRole::kClient;
    identity::SvidVerification result =
        identity::VerifySvidChain(chain, conn->server->options_.client_bundles, options);
    if (!result.ok()) {
      conn->verify_failure = std::string(identity::ReasonCode(result.reason));
      *out_alert = SSL_AD_BAD_CERTIFICATE;
      return ssl_verify_invalid;
    }
    conn->peer_id = result.svid->spiffe_id.ToString();
    return ssl_verify_ok;
  }

  enum class Phase { kHandshaking, kPumping, kLingering };
  TestTlsServer* server = nullptr;
  uint64_t id = 0;
  Phase phase = Phase::kHandshaking;
  std::unique_ptr<tls::TlsTransport> tls;
  std::unique_ptr<net::PlainTransport> backend;
  std::unique_ptr<event::FdWatcher> tls_watch;
  std::unique_ptr<event::FdWatcher> backend_watch;
  std::unique_ptr<net::Pump> pump;
  std::unique_ptr<event::Timer> linger;
  std::string peer_id;
  std::string verify_failure;
};

absl::StatusOr<std::unique_ptr<TestTlsServer>> TestTlsServer::Start(Options options) {
  std::unique_ptr<TestTlsServer> server(new TestTlsServer());
  server->ctx_.reset(SSL_CTX_new(TLS_method()));
  SSL_CTX* ctx = server->ctx_.get();
  if (ctx == nullptr || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
      !SSL_CTX_set_max_proto_version(ctx, options.max_tls_version) || options.chain.empty() ||
      !SSL_CTX_use_certificate(ctx, options.chain[0]) ||
      !SSL_CTX_use_PrivateKey(ctx, options.key)) {
    std::string detail;
    tls::DrainErrorQueue(&detail);
    return absl::InvalidArgumentError(absl::StrCat("test TLS server context: ", detail));
  }
  for (size_t i = 1; i < options.chain.size(); ++i) SSL_CTX_add1_chain_cert(ctx, options.chain[i]);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_num_tickets(ctx, 0);
  switch (options.client_certs) {
    case ClientCerts::kNotRequested:
      break;
    case ClientCerts::kOptional:
      SSL_CTX_set_custom_verify(ctx, SSL_VERIFY_PEER, &Conn::Verify);
      break;
    case ClientCerts::kRequired:
      SSL_CTX_set_custom_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                                &Conn::Verify);
      break;
  }
  absl::StatusOr<net::SocketAddress> bind_address =
      net::SocketAddress::Parse(absl::StrCat("127.0.0.1:", options.port));
  if (!bind_address.ok()) return bind_address.status();
  absl::StatusOr<net::UniqueFd> listener = net::BindListener(*bind_address, false);
  if (!listener.ok()) return listener.status();
  absl::StatusOr<net::SocketAddress> bound = net::LocalAddressOf(listener->get());
  if (!bound.ok()) return bound.status();
  server->port_ = bound->port();
  server->listen_fd_ = listener->Release();
  server->options_ = std::move(options);
  for (X509* cert : server->options_.chain) X509_up_ref(cert);
  EVP_PKEY_up_ref(server->options_.key);

  absl::StatusOr<std::unique_ptr<event::EventLoop>> loop = event::EventLoop::Create();
  if (!loop.ok()) return loop.status();
  server->loop_ = *std::move(loop);
  TestTlsServer* self = server.get();
  self->loop_->Post([self] {
    self->listen_watch_ = std::make_unique<event::FdWatcher>(
        self->loop_.get(), self->listen_fd_, [self](bool, bool) { self->OnAcceptable(); });
  });
  self->thread_ = std::thread([self] {
    sigset_t pipe;  // EPIPE rather than SIGPIPE from BoringSSL's write(2)
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    self->loop_->Run();
  });
  return server;
}

TestTlsServer::~TestTlsServer() {
  loop_->Post([this] {
    conns_.clear();
    listen_watch_.reset();
  });
  loop_->Stop();
  thread_.join();
  close(listen_fd_);
  for (X509* cert : options_.chain) X509_free(cert);
  EVP_PKEY_free(options_.key);
}

void TestTlsServer::OnAcceptable() {
  for (;;) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN: wait for the next edge
    net::UniqueFd accepted(fd);
    {
      sync::MutexLock lock(&mutex_);
      if (refusing_) continue;  // closed at once
      ++live_;
    }
    const uint64_t id = next_id_++;
    auto conn = std::make_unique<Conn>();
    conn->server = this;
    conn->id = id;
    bssl::UniquePtr<SSL> ssl(SSL_new(ctx_.get()));
    SSL_set_accept_state(ssl.get());
    SSL_set_ex_data(ssl.get(), ConnIndex(), conn.get());
    conn->tls = std::make_unique<tls::TlsTransport>(std::move(accepted), std::move(ssl));
    conn->tls_watch = std::make_unique<event::FdWatcher>(
        loop_.get(), fd, [this, id](bool readable, bool writable) {
          auto it = conns_.find(id);
          if (it == conns_.end()) return;
          Conn* c = it->second.get();
          switch (c->phase) {
            case Conn::Phase::kHandshaking:
              Handshake(id);
              return;
            case Conn::Phase::kPumping:
              c->pump->OnReadiness(net::Side::kDownstream, readable, writable);
              return;
            case Conn::Phase::kLingering: {
              char buf[4096];
              ssize_t n;
              while ((n = read(c->tls->fd(), buf, sizeof(buf))) > 0) {
              }
              if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) Release(id);
              return;
            }
          }
        });
    conns_[id] = std::move(conn);
    Handshake(id);
  }
}

void TestTlsServer::Handshake(uint64_t id) {
  Conn* c = conns_[id].get();
  const net::IoResult r = c->tls->Handshake();
  if (r.status == net::IoStatus::kWouldBlock) return;
  if (r.status == net::IoStatus::kOk) {
    Forward(id);
    return;
  }
  {
    sync::MutexLock lock(&mutex_);
    failures_.push_back(c->verify_failure.empty() ? c->tls->error() : c->verify_failure);
  }
  c->phase = Conn::Phase::kLingering;
  shutdown(c->tls->fd(), SHUT_WR);
  c->linger = std::make_unique<event::Timer>(loop_.get(), [this, id] { Release(id); });
  c->linger->Arm(absl::Seconds(2));
}

void TestTlsServer::Forward(uint64_t id) {
  Conn* c = conns_[id].get();
  absl::StatusOr<net::SocketAddress> backend = net::SocketAddress::Parse(options_.backend);
  net::UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!backend.ok() || connect(fd.get(), backend->sockaddr_ptr(), backend->length()) != 0) {
    Release(id);
    return;
  }
  fcntl(fd.get(), F_SETFL, fcntl(fd.get(), F_GETFL) | O_NONBLOCK);
  net::SetNoDelay(fd.get());
  const uint16_t port = net::LocalAddressOf(fd.get())->port();
  {
    sync::MutexLock lock(&mutex_);
    ++handshakes_ok_;
    peers_[port] = c->peer_id;
  }
  c->backend = std::make_unique<net::PlainTransport>(std::move(fd));
  c->phase = Conn::Phase::kPumping;
  c->pump = std::make_unique<net::Pump>(
      loop_.get(), c->tls.get(), c->backend.get(), net::Pump::Options{},
      net::Pump::Callbacks{[this, id] { Release(id); },
                           [this, id](net::Side, const std::string&) { Release(id); }});
  c->backend_watch = std::make_unique<event::FdWatcher>(
      loop_.get(), c->backend->fd(), [this, id](bool readable, bool writable) {
        auto it = conns_.find(id);
        if (it != conns_.end() && it->second->pump != nullptr) {
          it->second->pump->OnReadiness(net::Side::kUpstream, readable, writable);
        }
      });
  c->pump->Start();
}

void TestTlsServer::Release(uint64_t id) {
  loop_->Post([this, id] {
    if (conns_.erase(id) > 0) {
      sync::MutexLock lock(&mutex_);
      --live_;
    }
  });
}

std::optional<std::string> TestTlsServer::ClientIdOfGrpcPeer(const std::string& peer) const {
  const size_t colon = peer.rfind(':');
  uint32_t port = 0;
  if (!absl::StartsWith(peer, "ipv4:127.0.0.1:") || colon == std::string::npos ||
      !absl::SimpleAtoi(peer.substr(colon + 1), &port)) {
    return std::nullopt;
  }
  sync::MutexLock lock(&mutex_);
  auto it = peers_.find(static_cast<uint16_t>(port));
  if (it == peers_.end()) return std::nullopt;
  return it->second;
}

int TestTlsServer::handshakes_ok() const {
  sync::MutexLock lock(&mutex_);
  return handshakes_ok_;
}

std::vector<std::string> TestTlsServer::handshake_failures() const {
  sync::MutexLock lock(&mutex_);
  return failures_;
}

int TestTlsServer::live_connections() const {
  sync::MutexLock lock(&mutex_);
  return live_;
}

void TestTlsServer::SetRefusing(bool refusing) {
  {
    sync::MutexLock lock(&mutex_);
    refusing_ = refusing;
  }
  if (!refusing) return;
  sync::Notification closed;
  loop_->Post([this, &closed] {
    const size_t n = conns_.size();
    conns_.clear();
    {
      sync::MutexLock lock(&mutex_);
      live_ -= static_cast<int>(n);
    }
    closed.Notify();
  });
  closed.WaitForNotification();
}

}  // namespace palisade::identity_client::testing
