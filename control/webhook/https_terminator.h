// A TLS listener with an ordinary (non-SPIFFE) certificate from PEM files
// that forwards each connection's plaintext to a backend on loopback: how
// palisade-control serves the admission webhook over HTTPS, which the
// Kubernetes API server requires, with the project's own BoringSSL.
#ifndef PALISADE_CONTROL_WEBHOOK_HTTPS_TERMINATOR_H_
#define PALISADE_CONTROL_WEBHOOK_HTTPS_TERMINATOR_H_

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "runtime/event/event_loop.h"
#include "runtime/net/socket_address.h"
#include "runtime/net/unique_fd.h"
#include "runtime/sync/mutex.h"

namespace palisade::control {

// Start() from one thread; the rest runs on its own loop thread.
// ReloadCertificate() may be called from any thread.
class HttpsTerminator {
 public:
  struct Options {
    net::SocketAddress listen;
    std::string certificate_chain_file;  // PEM, leaf first
    std::string private_key_file;        // PEM
    net::SocketAddress backend;          // plaintext, loopback
    size_t max_connections = 1024;
    absl::Duration handshake_timeout = absl::Seconds(10);
    absl::Duration idle_timeout = absl::Seconds(60);
  };

  static absl::StatusOr<std::unique_ptr<HttpsTerminator>> Start(Options options);
  ~HttpsTerminator();
  net::SocketAddress address() const { return address_; }

  // Re-reads the certificate and key files (cert-manager and friends renew
  // them in place). New connections use a changed, valid pair; live ones keep
  // theirs. True when the certificate changed, false when it is the same; an
  // error (naming the file and the problem) leaves the running pair serving.
  absl::StatusOr<bool> ReloadCertificate() ABSL_LOCKS_EXCLUDED(ctx_mu_);

 private:
  class Connection;
  HttpsTerminator(Options options, bssl::UniquePtr<SSL_CTX> ctx, net::UniqueFd listener,
                  net::SocketAddress address, std::unique_ptr<event::EventLoop> loop);
  bssl::UniquePtr<SSL> NewSsl() ABSL_LOCKS_EXCLUDED(ctx_mu_);
  void AcceptAll();
  void Release(Connection* connection);

  const Options options_;
  sync::Mutex ctx_mu_;
  bssl::UniquePtr<SSL_CTX> ctx_ ABSL_GUARDED_BY(ctx_mu_);
  net::UniqueFd listener_;
  net::SocketAddress address_;
  std::unique_ptr<event::EventLoop> loop_;
  std::unique_ptr<event::FdWatcher> accept_watch_;
  absl::flat_hash_map<Connection*, std::unique_ptr<Connection>> connections_;
  std::thread thread_;
};

}  // namespace palisade::control

#endif  // PALISADE_CONTROL_WEBHOOK_HTTPS_TERMINATOR_H_
