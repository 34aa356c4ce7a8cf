// One TLS handshake on a non-blocking socket, driven to its end on a loop:
// a deadline, the peer judged by the PeerVerifier in BoringSSL's verify
// callback (and again after a resumption, whose session skipped that
// callback), and one outcome with a reason code. Every TLS endpoint
// handshakes through it: the data plane's connections, the TLS terminator
// and the dialer.
#ifndef PALISADE_RUNTIME_TLS_HANDSHAKER_H_
#define PALISADE_RUNTIME_TLS_HANDSHAKER_H_

#include <openssl/ssl.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "runtime/event/event_loop.h"
#include "runtime/tls/connection_hooks.h"
#include "runtime/tls/tls_transport.h"
#include "runtime/verify/peer_verifier.h"

namespace palisade::tls {

// HandshakeResult::reason of a handshake that ran out of time.
inline constexpr char kHandshakeTimeoutReason[] = "timeout";

// Every reason a failed HandshakeResult can carry: the verification reasons
// but "ok", the timeout, and the transport's errors (a peer that closed, a
// socket error, a TLS error). To create metric series at zero.
std::vector<std::string> KnownHandshakeFailureReasons();

struct HandshakeResult {
  bool ok = false;
  // "ok", or why not: a verification reason ("untrusted_chain",
  // "not_authorized"...), "timeout", or a TLS error code (tls_error.h).
  std::string reason;
  std::string detail;  // words for logs
  // The verdict on the peer. On success its SVID (or none: anonymous); on
  // failure it may still name who was refused.
  verify::PeerVerdict peer;
  // The SPIFFE ID the peer's leaf names, verified or not ("" if none): who
  // a refusal was for, in logs.
  std::string claimed_spiffe_id;
  bool resumed = false;
  absl::Duration duration;
};

// Loop thread only. Attached to the transport's SSL as its hooks until it is
// destroyed (new client sessions arrive after the handshake), so it goes
// before the transport does.
class Handshaker final : public TlsConnectionHooks {
 public:
  struct Options {
    absl::Duration timeout = absl::Seconds(10);
    // What the peer must be. Its pointers must stay valid until the
    // handshake ends; `verify.now` is set from `clock` at each check.
    verify::PeerCheck check;
    std::function<absl::Time()> clock = [] { return absl::Now(); };
  };
  struct Callbacks {
    // Exactly once. May not destroy the handshaker.
    std::function<void(const HandshakeResult&)> on_done;
    // A client session for the next connection to the same server.
    std::function<void(bssl::UniquePtr<SSL_SESSION>)> on_new_session;
  };

  Handshaker(event::EventLoop* loop, TlsTransport* transport, Options options, Callbacks callbacks);
  ~Handshaker() override;
  Handshaker(const Handshaker&) = delete;
  Handshaker& operator=(const Handshaker&) = delete;

  void Start();
  // The transport's fd is ready; the owner's watcher says so.
  void OnReadiness();
  bool done() const { return done_; }
  // After the handshake: leaves the SSL without hooks, for a transport that
  // moves on without this handshaker (no client sessions are kept then).
  void Detach();

  ssl_verify_result_t VerifyPeer(SSL* ssl, uint8_t* out_alert) override;
  void OnNewClientSession(bssl::UniquePtr<SSL_SESSION> session) override;

 private:
  void Continue();
  void Succeed();
  void Fail(std::string reason, std::string detail);
  verify::PeerVerdict Judge(const SSL* ssl);
  verify::PeerVerdict Judge(const SSL* ssl, STACK_OF(X509) * chain);

  TlsTransport* transport_;  // null once detached
  Options options_;
  Callbacks callbacks_;
  event::Timer deadline_;
  absl::Time started_;
  verify::PeerVerdict verdict_;
  bool judged_ = false;
  std::string claimed_spiffe_id_;  // from the leaf, before it is judged
  bool done_ = false;
};

}  // namespace palisade::tls

#endif  // PALISADE_RUNTIME_TLS_HANDSHAKER_H_
