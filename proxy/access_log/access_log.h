// One access-log line per connection, at its end: listener, direction, peer
// SPIFFE ID and address, result, bytes each way (bytes_in: from the side that
// connected to this listener; bytes_out: towards it), duration, close reason.
// Lines of connections that never finished a handshake (refused, failed,
// evicted) are rate-limited per listener, result and reason; a connection
// that did is always logged.
#ifndef PALISADE_PROXY_ACCESS_LOG_ACCESS_LOG_H_
#define PALISADE_PROXY_ACCESS_LOG_ACCESS_LOG_H_

#include <functional>
#include <string>

#include "absl/time/clock.h"
#include "proxy/access_log/line_rate_limit.h"
#include "proxy/forward/connection_host.h"

namespace palisade::access_log {

// Thread-safe. Writes to the "access" logger (see logging.h), which the
// config can switch off.
class AccessLog final : public forward::ConnectionObserver {
 public:
  struct Options {
    LineRateLimit::Options failures;
    std::function<absl::Time()> clock = [] { return absl::Now(); };
    // Each line held back, by listener and close reason (for a metric).
    std::function<void(const forward::ListenerContext&, const std::string& reason)> on_suppressed;
  };

  AccessLog() : AccessLog(Options()) {}
  explicit AccessLog(Options options);

  void OnAccepted(const forward::ListenerContext&) override {}
  void OnRefused(const forward::ListenerContext& listener, const std::string& reason) override;
  void OnHandshake(const forward::ListenerContext&, const forward::HandshakeOutcome&) override {}
  void OnClosed(const forward::ListenerContext& listener,
                const forward::ConnectionSummary& summary) override;

  // Writes a "suppressed" line for each listener, result and reason whose
  // lines were held back since its last line, with their count. Call it
  // now and then (palisade-proxy: every second), so that the count of a
  // flood that stopped is told too.
  void ReportSuppressed();

  // "ok" (closed cleanly), "denied" (the authorization policy refused the
  // peer), "handshake_failed" (any other TLS or identity failure) or "error".
  static const char* Result(const forward::ConnectionSummary& summary);

 private:
  // False when the line is held back. Before a line that follows held-back
  // ones, writes one that says how many ("suppressed").
  bool Admit(const forward::ListenerContext& listener, const char* result,
             const std::string& reason);
  void LogSuppressed(const std::string& key, uint64_t count);

  Options options_;
  LineRateLimit failures_;
};

}  // namespace palisade::access_log

#endif  // PALISADE_PROXY_ACCESS_LOG_ACCESS_LOG_H_
