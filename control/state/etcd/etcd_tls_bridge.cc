#include "control/state/etcd/etcd_tls_bridge.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "control/state/etcd/bridge_directory.h"
#include "runtime/log/logging.h"
#include "runtime/net/blocking_connect.h"
#include "runtime/tls/connection_hooks.h"
#include "runtime/tls/server_check.h"
#include "runtime/tls/tls_transport.h"
#include "runtime/verify/server_name_verifier.h"

namespace palisade::control::state::etcd {
namespace {

// What etcd's refusal of our client certificate (or of its absence) means.
std::string ClientCertificateRefused(bool have_certificate, const std::string& detail) {
  return absl::StrCat(have_certificate ? "etcd refused the client certificate (--etcd_cert_file): "
                                       : "etcd requires a client certificate (--etcd_cert_file): ",
                      detail);
}

constexpr absl::Duration kDialTimeout = absl::Seconds(5);  // lookup + connect + handshake
constexpr int kPollSliceMs = 200;                          // how soon a stopping bridge is noticed
constexpr size_t kMaxConnections = 64;                     // gRPC keeps one or two per channel
constexpr size_t kBufferBytes = 64 * 1024;

struct Failure {
  const char* reason;
  std::string detail;
};

}  // namespace

EtcdTlsBridge::EtcdTlsBridge(std::shared_ptr<const EtcdTlsConfig> config, std::string endpoint)
    : config_(std::move(config)), endpoint_(std::move(endpoint)) {
  sync::MutexLock lock(&mu_);
  for (const char* reason : kEtcdTlsReasons) failures_[reason] = 0;
}

absl::StatusOr<std::unique_ptr<EtcdTlsBridge>> EtcdTlsBridge::Start(
    std::shared_ptr<const EtcdTlsConfig> config, const std::string& endpoint) {
  std::unique_ptr<EtcdTlsBridge> bridge(new EtcdTlsBridge(std::move(config), endpoint));
  const size_t colon = endpoint.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--etcd_endpoints: \"", endpoint, "\" is not host:port"));
  }
  bridge->host_ = endpoint.substr(0, colon);
  bridge->port_ = endpoint.substr(colon + 1);
  if (absl::StartsWith(bridge->host_, "[") && absl::EndsWith(bridge->host_, "]")) {
    bridge->host_ = bridge->host_.substr(1, bridge->host_.size() - 2);
  }
  // A directory only this user can enter: nobody else can reach the socket.
  absl::StatusOr<std::string> dir = MakeBridgeDirectory(BridgeParent());
  if (!dir.ok()) return dir.status();
  bridge->dir_ = *std::move(dir);
  bridge->socket_path_ = bridge->dir_ + "/etcd.sock";
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (bridge->socket_path_.size() >= sizeof(address.sun_path)) {
    return absl::FailedPreconditionError(
        absl::StrCat("etcd TLS bridge: socket path too long: ", bridge->socket_path_));
  }
  std::memcpy(address.sun_path, bridge->socket_path_.c_str(), bridge->socket_path_.size() + 1);
  bridge->listener_ =
      net::UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!bridge->listener_.valid() ||
      ::bind(bridge->listener_.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
          0 ||
      ::listen(bridge->listener_.get(), 64) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "etcd TLS bridge: listen on ", bridge->socket_path_, ": ", std::strerror(errno)));
  }
  EtcdTlsBridge* self = bridge.get();
  bridge->acceptor_ = std::thread([self] { self->AcceptLoop(); });
  return bridge;
}

EtcdTlsBridge::~EtcdTlsBridge() {
  stopping_.store(true);
  if (acceptor_.joinable()) acceptor_.join();
  {
    sync::MutexLock lock(&mu_);
    for (Connection& c : connections_) {
      if (c.thread.joinable()) c.thread.join();
    }
    connections_.clear();
  }
  listener_ = net::UniqueFd();
  if (!socket_path_.empty()) ::unlink(socket_path_.c_str());
  if (!dir_.empty()) ::rmdir(dir_.c_str());
}

std::string EtcdTlsBridge::LastFailure() const {
  sync::MutexLock lock(&mu_);
  return last_failure_;
}

std::map<std::string, uint64_t> EtcdTlsBridge::Failures() const {
  sync::MutexLock lock(&mu_);
  return failures_;
}

void EtcdTlsBridge::Reap() {
  for (auto it = connections_.begin(); it != connections_.end();) {
    if (!it->done.load()) {
      ++it;
      continue;
    }
    if (it->thread.joinable()) it->thread.join();
    it = connections_.erase(it);
  }
}

void EtcdTlsBridge::AcceptLoop() {
  while (!stopping_.load()) {
    pollfd p{listener_.get(), POLLIN, 0};
    if (::poll(&p, 1, kPollSliceMs) <= 0) continue;
    net::UniqueFd local(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!local.valid()) continue;
    // The directory keeps others out; the uid check says so twice.
    ucred peer{};
    socklen_t length = sizeof(peer);
    if (::getsockopt(local.get(), SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0 ||
        peer.uid != ::geteuid()) {
      continue;
    }
    sync::MutexLock lock(&mu_);
    Reap();
    if (connections_.size() >= kMaxConnections) continue;  // closes `local`
    connections_.emplace_back();
    Connection* connection = &connections_.back();
    connection->thread = std::thread(
        [this, connection, fd = local.Release()] { Serve(net::UniqueFd(fd), connection); });
  }
}

void EtcdTlsBridge::OnFailure(const char* reason, const std::string& detail) {
  const std::string message =
      absl::StrCat("TLS to etcd ", endpoint_, " failed (", reason, "): ", detail);
  bool log = false;
  {
    sync::MutexLock lock(&mu_);
    ++failures_[reason];
    last_failure_ = message;
    // Once per change of reason: gRPC tries again every second.
    log = last_logged_reason_ != reason;
    last_logged_reason_ = reason;
  }
  if (log) {
    log::LogEvent(log::Level::kWarn, "control", "TLS connection to etcd failed",
                  {{"endpoint", endpoint_}, {"reason", reason}, {"detail", detail}});
  }
}

void EtcdTlsBridge::OnCarried() {
  bool recovered = false;
  {
    sync::MutexLock lock(&mu_);
    recovered = !last_failure_.empty();
    last_failure_.clear();
    last_logged_reason_.clear();
  }
  if (recovered) {
    log::LogEvent(log::Level::kInfo, "control", "TLS connection to etcd works again",
                  {{"endpoint", endpoint_}});
  }
}

void EtcdTlsBridge::Serve(net::UniqueFd local, Connection* connection) {
  struct MarkDone {
    Connection* c;
    ~MarkDone() { c->done.store(true); }
  } mark_done{connection};

  const absl::Time deadline = absl::Now() + kDialTimeout;
  absl::StatusOr<net::UniqueFd> tcp = net::ConnectTcp(host_, port_, deadline, &stopping_);
  if (!tcp.ok()) {
    if (!stopping_.load()) {
      OnFailure(absl::IsDeadlineExceeded(tcp.status()) ? kEtcdTlsTimeout : kEtcdTlsConnect,
                std::string(tcp.status().message()));
    }
    return;
  }
  bssl::UniquePtr<SSL> ssl(SSL_new(config_->context()));
  if (!ssl) return;
  const std::string name = config_->ServerNameFor(host_);
  tls::ServerCheck check(config_->roots(), name);
  tls::AttachHooks(ssl.get(), &check);
  tls::SetServerNameIndication(ssl.get(), name);
  SSL_set_connect_state(ssl.get());
  tls::TlsTransport remote(*std::move(tcp), std::move(ssl));
  for (;;) {
    const net::IoResult r = remote.Handshake();
    if (r.status == net::IoStatus::kOk) break;
    if (r.status == net::IoStatus::kWouldBlock) {
      if (net::WaitReady(remote.fd(), r.wants, deadline, &stopping_).ok()) continue;
      if (!stopping_.load()) OnFailure(kEtcdTlsTimeout, "the TLS handshake did not finish in time");
      tls::AttachHooks(remote.ssl(), nullptr);
      return;
    }
    tls::AttachHooks(remote.ssl(), nullptr);
    if (!check.verdict().ok()) {
      const std::string why(check.verdict().message());
      OnFailure(absl::StrContains(why, "mismatch") ? kEtcdTlsNameMismatch : kEtcdTlsUntrustedServer,
                absl::StrCat(why, " (checked against --etcd_ca_file and the name \"", name, "\")"));
    } else if (remote.error() == "peer_rejected_certificate") {
      OnFailure(kEtcdTlsClientCertificateRefused,
                ClientCertificateRefused(config_->has_client_certificate(), remote.error_detail()));
    } else {
      OnFailure(kEtcdTlsHandshake, absl::StrCat(remote.error(), " ", remote.error_detail()));
    }
    return;
  }
  tls::AttachHooks(remote.ssl(), nullptr);  // `check` goes out of scope first

  // Bytes both ways until either side ends. gRPC's HTTP/2 needs no half-close:
  // once one side is gone, the connection is over.
  std::string up;    // from gRPC, for etcd
  std::string down;  // from etcd, for gRPC
  size_t up_offset = 0;
  size_t down_offset = 0;
  bool carried = false;
  net::Readiness remote_read_wants = net::Readiness::kRead;
  net::Readiness remote_write_wants = net::Readiness::kWrite;
  bool hangup = false;
  char buffer[kBufferBytes];
  while (!stopping_.load()) {
    bool progress = false;
    if (up_offset == up.size()) {
      const ssize_t n = ::read(local.get(), buffer, sizeof(buffer));
      if (n > 0) {
        up.assign(buffer, static_cast<size_t>(n));
        up_offset = 0;
        progress = true;
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        break;  // gRPC closed the connection
      }
    }
    if (up_offset < up.size()) {
      const net::IoResult r = remote.Write(up.data() + up_offset, up.size() - up_offset);
      if (r.status == net::IoStatus::kOk) {
        up_offset += r.bytes;
        progress = true;
      } else if (r.status == net::IoStatus::kWouldBlock) {
        remote_write_wants = r.wants;
      } else {
        break;
      }
    }
    if (down_offset == down.size()) {
      const net::IoResult r = remote.Read(buffer, sizeof(buffer));
      if (r.status == net::IoStatus::kOk) {
        down.assign(buffer, r.bytes);
        down_offset = 0;
        progress = true;
        if (!carried) {
          carried = true;
          OnCarried();
        }
      } else if (r.status == net::IoStatus::kWouldBlock) {
        remote_read_wants = r.wants;
      } else {
        // Under TLS 1.3 a refused client certificate shows only now: etcd's
        // alert arrives after our side of the handshake is done.
        if (!carried && r.status == net::IoStatus::kError) {
          if (remote.error() == "peer_rejected_certificate") {
            OnFailure(
                kEtcdTlsClientCertificateRefused,
                ClientCertificateRefused(config_->has_client_certificate(), remote.error_detail()));
          } else {
            OnFailure(kEtcdTlsHandshake, absl::StrCat("etcd closed the connection: ",
                                                      remote.error(), " ", remote.error_detail()));
          }
        }
        break;
      }
    }
    if (down_offset < down.size()) {
      const ssize_t n =
          ::send(local.get(), down.data() + down_offset, down.size() - down_offset, MSG_NOSIGNAL);
      if (n > 0) {
        down_offset += static_cast<size_t>(n);
        progress = true;
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        break;
      }
    }
    if (progress) {
      hangup = false;
      continue;
    }
    if (hangup) break;  // a side hung up and nothing moved since
    pollfd fds[2] = {{local.get(), 0, 0}, {remote.fd(), 0, 0}};
    if (up_offset == up.size()) fds[0].events |= POLLIN;
    if (down_offset < down.size()) fds[0].events |= POLLOUT;
    auto wants = [](net::Readiness r) -> int16_t {
      return r == net::Readiness::kRead ? POLLIN : POLLOUT;
    };
    if (up_offset < up.size()) fds[1].events |= wants(remote_write_wants);
    if (down_offset == down.size()) fds[1].events |= wants(remote_read_wants);
    const int n = ::poll(fds, 2, kPollSliceMs);
    if (n < 0 && errno != EINTR) break;
    for (const pollfd& p : fds) {
      if (p.revents & (POLLHUP | POLLERR | POLLNVAL)) hangup = true;
    }
  }
}

absl::StatusOr<std::shared_ptr<EtcdTlsBridges>> EtcdTlsBridges::Start(
    std::shared_ptr<const EtcdTlsConfig> config, const std::vector<std::string>& endpoints) {
  // What a palisade-control killed with -9 left (its destructors did not run).
  for (const std::string& stale : RemoveStaleBridgeDirectories(BridgeParent())) {
    log::LogEvent(log::Level::kInfo, "control",
                  "removed a stale etcd TLS bridge directory (its process is gone)",
                  {{"path", stale}});
  }
  auto bridges = std::make_shared<EtcdTlsBridges>();
  for (const std::string& endpoint : endpoints) {
    absl::StatusOr<std::unique_ptr<EtcdTlsBridge>> bridge = EtcdTlsBridge::Start(config, endpoint);
    if (!bridge.ok()) return bridge.status();
    bridges->bridges_.push_back(*std::move(bridge));
  }
  return bridges;
}

}  // namespace palisade::control::state::etcd
