// The audit trail: one JSON line per issuance and per refusal, appended to
// <state_dir>/audit.log and logged through the "audit" logger, with the last
// few kept in memory for /api/v1/state.
#ifndef PALISADE_CONTROL_SERVICE_AUDIT_LOG_H_
#define PALISADE_CONTROL_SERVICE_AUDIT_LOG_H_

#include <cstdint>
#include <cstdio>
#include <deque>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/sync/mutex.h"

namespace palisade::control::service {

struct AuditEvent {
  absl::Time time;
  std::string event;      // "issued" or "refused"
  std::string spiffe_id;  // what was issued, or what was claimed/authenticated ("" if nothing)
  std::string serial;
  absl::Time not_after = absl::InfinitePast();  // unset for refusals
  std::string instance;
  std::string result;  // "ok" or the gRPC status code name ("PERMISSION_DENIED")
  std::string reason;  // "bootstrap_join_token", "renewal", or the refusal reason
  std::string detail;  // human text
  std::string peer;    // how the stream authenticated: "svid", "join_token:<id>", ...
  // Refusals of the same identity and reason not written since its previous
  // line (throttled refusals, see IssuanceLimiter); written only when > 0.
  uint64_t suppressed = 0;
  std::string remote;  // the client's address, for refusals before any stream ("" if not)
};

nlohmann::json AuditEventToJson(const AuditEvent& event);

// Thread-safe.
class AuditLog {
 public:
  // `path` empty: no file, only the logger and the in-memory ring.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const std::string& path,
                                                        size_t keep_recent = 200);
  ~AuditLog();

  void Record(const AuditEvent& event);
  std::vector<AuditEvent> Recent() const;  // oldest first

 private:
  AuditLog(std::FILE* file, size_t keep) : file_(file), keep_(keep) {}
  mutable sync::Mutex mu_;
  std::FILE* const file_;
  const size_t keep_;
  std::deque<AuditEvent> recent_ ABSL_GUARDED_BY(mu_);
};

}  // namespace palisade::control::service

#endif  // PALISADE_CONTROL_SERVICE_AUDIT_LOG_H_
