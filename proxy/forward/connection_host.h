// What a connection asks of the worker that runs it: the loop, the current
// credentials, the client session cache, and where to report.
#ifndef PALISADE_PROXY_FORWARD_CONNECTION_HOST_H_
#define PALISADE_PROXY_FORWARD_CONNECTION_HOST_H_

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "identity/svid_verifier.h"
#include "proxy/credentials/credential_snapshot.h"
#include "proxy/forward/listener_context.h"
#include "runtime/event/event_loop.h"
#include "runtime/tls/handshaker.h"
#include "runtime/verify/verified_chain_cache.h"

namespace palisade::forward {

class Connection;

// A connection's own handshake failures, before or beside TLS's.
inline constexpr char kNoIdentityReason[] = "no_identity";
inline constexpr char kIdentityExpiredReason[] = "identity_expired";
inline constexpr char kInternalErrorReason[] = "internal_error";

// Every reason a failed HandshakeOutcome can carry, e.g. to create metric
// series at zero: the TLS handshake's and the connection's own.
inline std::vector<std::string> KnownHandshakeFailureReasons() {
  std::vector<std::string> known = tls::KnownHandshakeFailureReasons();
  for (const char* own : {kNoIdentityReason, kIdentityExpiredReason, kInternalErrorReason}) {
    known.emplace_back(own);
  }
  return known;
}

// How one TLS handshake ended; `reason` is "ok" or a failure code.
struct HandshakeOutcome {
  bool ok = false;
  std::string reason;
  std::string peer_id;  // on success, and on authorization failure
  bool resumed = false;
  absl::Duration duration;
  std::string detail;  // human text for logs
};

// At the end of every connection: one access-log line and the counters.
struct ConnectionSummary {
  std::string peer_id;
  std::string peer_serial;  // the peer certificate's serial (hex), when verified
  std::string peer_address;
  bool handshake_ok = false;
  // A TLS handshake was attempted and failed; close_reason is its reason,
  // already reported through OnHandshake.
  bool handshake_failed = false;
  std::string close_reason;  // "done", "idle_timeout", "drained", "connection_reset"...
  // The proxy reset both sides (an error, or a graceful close that ran out
  // of time): the peers saw RST, not a clean end.
  bool reset = false;
  std::string detail;  // why a handshake failed, in words
  uint64_t bytes_from_downstream = 0;
  uint64_t bytes_from_upstream = 0;
  absl::Duration duration;
};

// Thread-safe; called from every worker.
class ConnectionObserver {
 public:
  virtual ~ConnectionObserver() = default;
  virtual void OnAccepted(const ListenerContext& listener) = 0;
  virtual void OnRefused(const ListenerContext& listener, const std::string& reason) = 0;
  virtual void OnHandshake(const ListenerContext& listener, const HandshakeOutcome& outcome) = 0;
  virtual void OnClosed(const ListenerContext& listener, const ConnectionSummary& summary) = 0;
};

// Loop thread only.
class ConnectionHost {
 public:
  virtual ~ConnectionHost() = default;
  virtual event::EventLoop* loop() = 0;
  // The credentials new connections use; null before the first SVID.
  virtual const std::shared_ptr<const credentials::CredentialSnapshot>& snapshot() = 0;
  virtual absl::Time Now() = 0;
  virtual absl::Duration clock_skew() = 0;
  // How long a graceful close may take before it becomes a reset.
  virtual absl::Duration close_grace() = 0;
  virtual ConnectionObserver* observer() = 0;
  // Outbound connections that arrive before the first SVID wait here.
  virtual void Park(Connection* connection) = 0;
  virtual void Unpark(Connection* connection) = 0;
  // Client sessions by upstream. A session is offered only under the
  // snapshot generation it was made with (it records our own certificate,
  // which a newer snapshot supersedes, even when its ticket arrives after
  // the swap), and only while the peer it recorded stays valid for a while:
  // a resumed session carries the peer's old certificate, and re-checking an
  // expired one would fail the connection instead of falling back to a full
  // handshake.
  virtual bssl::UniquePtr<SSL_SESSION> TakeSession(const std::string& key) = 0;
  virtual void StoreSession(const std::string& key, bssl::UniquePtr<SSL_SESSION> session,
                            absl::Time peer_valid_until, uint64_t snapshot_generation) = 0;
  // A session the server refused: not offered again.
  virtual void ForgetSession(const std::string& key) = 0;
  virtual bool resumption_enabled() = 0;
  // Peer chains verified before on this worker.
  // Null when tls.verified_chain_cache is off.
  virtual verify::VerifiedChainCache* verified_chains() = 0;
  // The listener's authorization as last reloaded, or null if never.
  virtual std::shared_ptr<const ListenerPolicy> ReloadedPolicy(const ListenerContext& listener) = 0;
  // False when the listener's policy, as last reloaded, no longer allows the
  // connection's verified peer (and re-authentication on policy change is
  // on). Asked again when a connection is established: a reload that lands
  // during its handshake was not the policy the handshake judged it by.
  virtual bool PolicyAllows(const Connection& connection) = 0;
  // Resolves `host` (numeric or DNS); calls back on the loop thread. The
  // returned handle cancels the lookup when destroyed.
  using ResolveCallback = std::function<void(absl::StatusOr<net::SocketAddress>)>;
  virtual std::shared_ptr<void> Resolve(const net::HostPort& upstream,
                                        ResolveCallback callback) = 0;
  // A gateway listener's trust store as last reloaded (at first, the one in
  // listener.gateway).
  virtual std::shared_ptr<const identity::GatewayTrust> GatewayTrust(
      const ListenerContext& listener) = 0;
  // The connection's handshake succeeded: it no longer counts as pending.
  virtual void HandshakeFinished(Connection* connection) = 0;
  // The connection has closed; the host destroys it after the current event.
  virtual void Release(Connection* connection) = 0;
};

}  // namespace palisade::forward

#endif  // PALISADE_PROXY_FORWARD_CONNECTION_HOST_H_
