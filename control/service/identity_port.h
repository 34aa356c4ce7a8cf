// The identity port: where proxies reach the identity service. The runtime's
// TLS terminator presents the control plane's SVID, verifies a client SVID
// when one is presented (optional: a proxy's first contact has none), and
// forwards each connection's plaintext to the in-process gRPC server on
// loopback; the port records the forwarder's address -> the verified peer
// in the PeerTable, which the service reads back from ServerContext::peer()
// (CONSTRAINTS.md §2).
//
// Floods (README "Identity port limits"): handshakes in progress are bounded
// apart from established connections, per source too; anonymous clients
// (bootstrap, no client SVID) may hold at most max_connections less the SVID
// reserve, and a few per source, so renewals always get through; a client
// that sends nothing within first_byte_timeout of its handshake is closed.
// TLS-level refusals are logged (warn) and audited, a few per reason and
// interval, the rest counted.
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
#include "control/service/audit_log.h"
#include "control/service/log_rate_limiter.h"
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
    // Established connections held at once; 0 = what the descriptor limit allows.
    size_t max_connections = 0;
    // Of those, only for clients with a verified SVID; 0 = a quarter.
    size_t reserved_for_svids = 0;
    // Anonymous connections from one IP address; 0 = an eighth of
    // max_connections, at least 4.
    size_t max_anonymous_per_source = 0;
    // Handshakes in progress; 0 = from the descriptor limit (at most 1024).
    size_t max_pending = 0;
    size_t max_pending_per_source = 64;
    absl::Duration first_byte_timeout = absl::Seconds(10);
    // Refusal log lines (and audit lines) per reason and interval.
    size_t refusal_log_burst = 10;
    absl::Duration refusal_log_interval = absl::Seconds(10);
    std::function<absl::Time()> clock = [] { return absl::Now(); };
  };

  // The terminator's options `options` come to, zeros resolved (the reserve
  // and per-source share follow the cap); InvalidArgument when they cannot
  // work. Create calls it; a server checks its flags with it before it
  // writes anything.
  static absl::StatusOr<tls::TlsTerminator::Options> Resolve(const Options& options);

  // Binds the listener (so address() is known) but accepts nothing until
  // Start(). `peers`, `metrics` and `audit` (both optional) must outlive
  // this. InvalidArgument names the option that cannot work.
  static absl::StatusOr<std::unique_ptr<IdentityPort>> Create(Options options, PeerTable* peers,
                                                              metrics::ControlMetrics* metrics,
                                                              AuditLog* audit);

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
  // The bounds in force, zeros resolved.
  const tls::TlsTerminator::Options& limits() const { return resolved_; }

  // Writes the summary lines ("N refusals not logged") of intervals that
  // have ended; call it now and then (the server's tick).
  void FlushRefusalLog(absl::Time now);

 private:
  IdentityPort() = default;
  void LogRefusal(const std::string& reason, const std::string& detail, const std::string& remote,
                  const std::string& claimed_spiffe_id, bool identity);

  metrics::ControlMetrics* metrics_ = nullptr;
  AuditLog* audit_ = nullptr;
  std::function<absl::Time()> clock_;
  std::unique_ptr<LogRateLimiter> refusal_log_;
  tls::TlsTerminator::Options resolved_;
  std::unique_ptr<tls::TlsTerminator> terminator_;
};

}  // namespace palisade::control::service

#endif  // PALISADE_CONTROL_SERVICE_IDENTITY_PORT_H_
