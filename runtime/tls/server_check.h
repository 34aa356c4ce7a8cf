// A blocking TLS client's judgement of an ordinary server (an HTTPS endpoint,
// etcd): the handshake's certificate check routed to VerifyServerName (or
// VerifyServerSpiffeId when a SPIFFE ID is expected), its verdict kept for the
// failure message, and SNI sent for a name (never an IP literal, RFC 6066).
#ifndef PALISADE_RUNTIME_TLS_SERVER_CHECK_H_
#define PALISADE_RUNTIME_TLS_SERVER_CHECK_H_

#include <openssl/ssl.h>

#include <string>

#include "absl/status/status.h"
#include "runtime/tls/connection_hooks.h"
#include "runtime/verify/server_name_verifier.h"

namespace palisade::tls {

// One connection's thread. Attach with AttachHooks(ssl, &check) and detach
// (AttachHooks(ssl, nullptr)) before it goes out of scope.
class ServerCheck final : public TlsConnectionHooks {
 public:
  // `roots` outlives the check. `spiffe_id` empty: the server must name `host`.
  ServerCheck(const verify::ServerRoots& roots, std::string host, std::string spiffe_id = "")
      : roots_(roots), host_(std::move(host)), spiffe_id_(std::move(spiffe_id)) {}
  ssl_verify_result_t VerifyPeer(SSL* ssl, uint8_t* out_alert) override;
  // OK until a check failed; then why (Unauthenticated, naming the host).
  const absl::Status& verdict() const { return verdict_; }

 private:
  const verify::ServerRoots& roots_;
  const std::string host_;
  const std::string spiffe_id_;
  absl::Status verdict_;
};

// Sets SNI to `host` unless it is an IP literal.
void SetServerNameIndication(SSL* ssl, const std::string& host);

}  // namespace palisade::tls

#endif  // PALISADE_RUNTIME_TLS_SERVER_CHECK_H_
