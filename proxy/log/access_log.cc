#include "proxy/log/access_log.h"

#include "proxy/log/logging.h"

namespace palisade::log {

void AccessLog::OnRefused(const forward::ListenerContext& listener, const std::string& reason) {
  LogEvent(Level::kInfo, "access", "refused",
           {{"listener", listener.name},
            {"direction", forward::DirectionName(listener.direction)},
            {"result", "refused"},
            {"close_reason", reason}});
}

void AccessLog::OnClosed(const forward::ListenerContext& listener,
                         const forward::ConnectionSummary& s) {
  const char* result = !s.handshake_ok ? "denied" : s.close_reason == "done" ? "ok" : "error";
  if (s.detail.empty()) {
    LogEvent(Level::kInfo, "access", "connection",
             {{"listener", listener.name},
              {"direction", forward::DirectionName(listener.direction)},
              {"peer_id", s.peer_id},
              {"peer_address", s.peer_address},
              {"result", result},
              {"bytes_in", s.bytes_from_downstream},
              {"bytes_out", s.bytes_from_upstream},
              {"duration_ms", absl::ToInt64Milliseconds(s.duration)},
              {"close_reason", s.close_reason}});
  } else {
    LogEvent(Level::kInfo, "access", "connection",
             {{"listener", listener.name},
              {"direction", forward::DirectionName(listener.direction)},
              {"peer_id", s.peer_id},
              {"peer_address", s.peer_address},
              {"result", result},
              {"bytes_in", s.bytes_from_downstream},
              {"bytes_out", s.bytes_from_upstream},
              {"duration_ms", absl::ToInt64Milliseconds(s.duration)},
              {"close_reason", s.close_reason},
              {"detail", s.detail}});
  }
}

}  // namespace palisade::log
