// The identity port: where proxies reach the identity service. The runtime's
// TLS terminator presents the control plane's SVID, verifies a client SVID
// when one is presented (optional: a proxy's first contact has none), and
// forwards each connection's plaintext to the in-process gRPC server on
// loopback; the port records the forwarder's address -> the verified peer
// in the PeerTable, which the service reads back from ServerContext::peer()
// (CONSTRAINTS.md §2).
#ifndef PALISADE_CONTROL_SERVICE_IDENTITY_PORT_H_
#define PALISADE_CONTROL_SERVICE_IDENTITY_PORT_H_

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "control/metrics/control_metrics.h"
#include "control/service/peer_table.h"
#include "identity/trust_bundle.h"
#include "runtime/net/socket_address.h"
#include "runtime/tls/tls_terminator.h"

namespace palisade::control::service {

class IdentityPort {
 public:
  struct Options {
    net::SocketAddress listen;
    net::SocketAddress backend;  // the gRPC server, 127.0.0.1:PORT
    std::string trust_domain;    // client SVIDs must be of it
    absl::Duration handshake_timeout = absl::Seconds(10);
    absl::Duration clock_skew = absl::Seconds(30);
    // Connections held at once; 0 = what the descriptor limit allows.
    size_t max_connections = 0;
    std::function<absl::Time()> clock = [] { return absl::Now(); };
  };

  // Binds the listener (so address() is known) but accepts nothing until
  // Start(). `peers` and `metrics` (optional) must outlive this.
  static absl::StatusOr<std::unique_ptr<IdentityPort>> Create(Options options, PeerTable* peers,
                                                              metrics::ControlMetrics* metrics);

  // The serving SVID (leaf first) and key, and the roots client SVIDs must
  // chain to. Thread-safe; new connections use the latest, live ones keep theirs.
  absl::Status SetCredentials(const std::vector<X509*>& chain, EVP_PKEY* key,
                              identity::TrustBundleSet bundles);
  // Needs credentials first.
  absl::Status Start() { return terminator_->Start(); }
  // Closes every connection and stops accepting.
  void Stop() { terminator_->Stop(); }

  net::SocketAddress address() const { return terminator_->address(); }
  size_t connection_count() const { return terminator_->connection_count(); }

 private:
  IdentityPort() = default;
  std::unique_ptr<tls::TlsTerminator> terminator_;
};

}  // namespace palisade::control::service

#endif  // PALISADE_CONTROL_SERVICE_IDENTITY_PORT_H_
