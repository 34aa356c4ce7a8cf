// One access-log line per connection, at its end: listener, direction, peer
// SPIFFE ID and address, result, bytes each way (bytes_in: from the side that
// connected to this listener; bytes_out: towards it), duration, close reason.
#ifndef PALISADE_PROXY_ACCESS_LOG_ACCESS_LOG_H_
#define PALISADE_PROXY_ACCESS_LOG_ACCESS_LOG_H_

#include <string>

#include "proxy/forward/connection_host.h"

namespace palisade::access_log {

// Thread-safe. Writes to the "access" logger (see logging.h), which the
// config can switch off.
class AccessLog final : public forward::ConnectionObserver {
 public:
  void OnAccepted(const forward::ListenerContext&) override {}
  void OnRefused(const forward::ListenerContext& listener, const std::string& reason) override;
  void OnHandshake(const forward::ListenerContext&, const forward::HandshakeOutcome&) override {}
  void OnClosed(const forward::ListenerContext& listener,
                const forward::ConnectionSummary& summary) override;

  // "ok" (closed cleanly), "denied" (the authorization policy refused the
  // peer), "handshake_failed" (any other TLS or identity failure) or "error".
  static const char* Result(const forward::ConnectionSummary& summary);
};

}  // namespace palisade::access_log

#endif  // PALISADE_PROXY_ACCESS_LOG_ACCESS_LOG_H_
