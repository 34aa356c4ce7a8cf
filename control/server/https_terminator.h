// A TLS listener with an ordinary (non-SPIFFE) certificate from PEM files
// that forwards each connection's plaintext to a backend on loopback: how
// palisade-control serves the admission webhook over HTTPS, which the
// Kubernetes API server requires, with the project's own BoringSSL.
#ifndef PALISADE_CONTROL_SERVER_HTTPS_TERMINATOR_H_
#define PALISADE_CONTROL_SERVER_HTTPS_TERMINATOR_H_

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "proxy/event/event_loop.h"
#include "proxy/net/socket_address.h"
#include "proxy/net/unique_fd.h"

namespace palisade::control {

// Start() from one thread; the rest runs on its own loop thread.
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

 private:
  class Connection;
  HttpsTerminator(Options options, bssl::UniquePtr<SSL_CTX> ctx, net::UniqueFd listener,
                  net::SocketAddress address, std::unique_ptr<event::EventLoop> loop);
  void AcceptAll();
  void Release(Connection* connection);

  const Options options_;
  bssl::UniquePtr<SSL_CTX> ctx_;
  net::UniqueFd listener_;
  net::SocketAddress address_;
  std::unique_ptr<event::EventLoop> loop_;
  std::unique_ptr<event::FdWatcher> accept_watch_;
  absl::flat_hash_map<Connection*, std::unique_ptr<Connection>> connections_;
  std::thread thread_;
};

}  // namespace palisade::control

#endif  // PALISADE_CONTROL_SERVER_HTTPS_TERMINATOR_H_
