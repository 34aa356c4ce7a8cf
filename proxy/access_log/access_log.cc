#include "proxy/access_log/access_log.h"

#include <vector>

#include "runtime/log/logging.h"

namespace palisade::access_log {

const char* AccessLog::Result(const forward::ConnectionSummary& s) {
  if (s.handshake_failed) return s.close_reason == "not_authorized" ? "denied" : "handshake_failed";
  return s.close_reason == "done" ? "ok" : "error";
}

void AccessLog::OnRefused(const forward::ListenerContext& listener, const std::string& reason) {
  log::LogEvent(log::Level::kInfo, "access", "refused",
                {{"listener", listener.name},
                 {"direction", forward::DirectionName(listener.direction)},
                 {"result", "refused"},
                 {"close_reason", reason}});
}

void AccessLog::OnClosed(const forward::ListenerContext& listener,
                         const forward::ConnectionSummary& s) {
  if (!log::ShouldLog(log::Level::kInfo, "access")) return;
  // Peer-chosen text (SPIFFE IDs, TLS error strings) only ever goes in
  // fields, which the formatter escapes. Never key material: the summary
  // holds none.
  std::vector<log::Field> fields = {{"listener", listener.name},
                                    {"direction", forward::DirectionName(listener.direction)},
                                    {"peer_id", s.peer_id},
                                    {"peer_serial", s.peer_serial},
                                    {"peer_address", s.peer_address},
                                    {"result", Result(s)},
                                    {"bytes_in", s.bytes_from_downstream},
                                    {"bytes_out", s.bytes_from_upstream},
                                    {"duration_ms", absl::ToInt64Milliseconds(s.duration)},
                                    {"close_reason", s.close_reason}};
  if (!s.detail.empty()) fields.emplace_back("detail", s.detail);
  if (s.reset) fields.emplace_back("reset", true);
  log::LogEvent(log::Level::kInfo, "access", "connection", absl::MakeConstSpan(fields));
}

}  // namespace palisade::access_log
