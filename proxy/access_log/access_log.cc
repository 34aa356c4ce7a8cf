#include "proxy/access_log/access_log.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "runtime/log/logging.h"

namespace palisade::access_log {
namespace {

constexpr absl::string_view kSeparator = "\x1f";

}  // namespace

AccessLog::AccessLog(Options options)
    : options_(std::move(options)), failures_(options_.failures) {}

const char* AccessLog::Result(const forward::ConnectionSummary& s) {
  if (s.handshake_failed) return s.close_reason == "not_authorized" ? "denied" : "handshake_failed";
  return s.close_reason == "done" ? "ok" : "error";
}

bool AccessLog::Admit(const forward::ListenerContext& listener, const char* result,
                      const std::string& reason) {
  // The key carries what the "suppressed" line names.
  const std::string key =
      absl::StrCat(listener.name, kSeparator, forward::DirectionName(listener.direction),
                   kSeparator, result, kSeparator, reason);
  const LineRateLimit::Decision d = failures_.Take(key, options_.clock());
  if (!d.write) {
    if (options_.on_suppressed) options_.on_suppressed(listener, reason);
    return false;
  }
  if (d.suppressed_before > 0) LogSuppressed(key, d.suppressed_before);
  return true;
}

void AccessLog::LogSuppressed(const std::string& key, uint64_t count) {
  std::vector<std::string> parts = absl::StrSplit(key, kSeparator);
  parts.resize(4);  // "" for all four: the shared bucket beyond the key cap
  log::LogEvent(log::Level::kInfo, "access", "suppressed",
                {{"listener", parts[0]},
                 {"direction", parts[1]},
                 {"result", parts[2]},
                 {"close_reason", parts[3]},
                 {"suppressed", count}});
}

void AccessLog::ReportSuppressed() {
  if (!log::ShouldLog(log::Level::kInfo, "access")) return;
  for (const auto& [key, count] : failures_.TakeSuppressed()) LogSuppressed(key, count);
}

void AccessLog::OnRefused(const forward::ListenerContext& listener, const std::string& reason) {
  if (!log::ShouldLog(log::Level::kInfo, "access")) return;
  if (!Admit(listener, "refused", reason)) return;
  log::LogEvent(log::Level::kInfo, "access", "refused",
                {{"listener", listener.name},
                 {"direction", forward::DirectionName(listener.direction)},
                 {"result", "refused"},
                 {"close_reason", reason}});
}

void AccessLog::OnClosed(const forward::ListenerContext& listener,
                         const forward::ConnectionSummary& s) {
  if (!log::ShouldLog(log::Level::kInfo, "access")) return;
  const char* result = Result(s);
  // Anyone can make a connection fail before its handshake is done, as fast
  // as they can connect; only those lines are rate-limited.
  if (!s.handshake_ok && !Admit(listener, result, s.close_reason)) return;
  // Peer-chosen text (SPIFFE IDs, TLS error strings) only ever goes in
  // fields, which the formatter escapes. Never key material: the summary
  // holds none.
  std::vector<log::Field> fields = {{"listener", listener.name},
                                    {"direction", forward::DirectionName(listener.direction)},
                                    {"peer_id", s.peer_id},
                                    {"peer_serial", s.peer_serial},
                                    {"peer_address", s.peer_address},
                                    {"result", result},
                                    {"bytes_in", s.bytes_from_downstream},
                                    {"bytes_out", s.bytes_from_upstream},
                                    {"duration_ms", absl::ToInt64Milliseconds(s.duration)},
                                    {"close_reason", s.close_reason}};
  if (!s.detail.empty()) fields.emplace_back("detail", s.detail);
  if (s.reset) fields.emplace_back("reset", true);
  log::LogEvent(log::Level::kInfo, "access", "connection", absl::MakeConstSpan(fields));
}

}  // namespace palisade::access_log
