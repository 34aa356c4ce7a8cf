// The audit trail: one JSON line per issuance and per refusal, appended to
// <state_dir>/audit.log and logged through the "audit" logger, with the last
// few kept in memory for /api/v1/state.
#ifndef PALISADE_CONTROL_SERVICE_AUDIT_LOG_H_
#define PALISADE_CONTROL_SERVICE_AUDIT_LOG_H_

#include <cstdint>
#include <cstdio>
#include <deque>
#include <map>
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
  // This line only stands for `suppressed` refusals written nowhere else (a
  // sweep of throttled ones), not for one more.
  bool summary = false;
  std::string remote;  // the client's address, for refusals before any stream ("" if not)
};

nlohmann::json AuditEventToJson(const AuditEvent& event);

// Refusals of one identity for one reason, folded: one retrying proxy is one
// row with a count, not a page of lines.
struct RefusalCount {
  std::string spiffe_id;  // "" when the refused client named none
  std::string reason;
  uint64_t count = 0;
  absl::Time first;
  absl::Time last;
};

// Thread-safe.
class AuditLog {
 public:
  // `path` empty: no file, only the logger and the in-memory ring.
  // Keeps the last `keep_recent` events, and of the issuances alone as many,
  // and the refusal counts of at most `keep_refusal_keys` (identity, reason)
  // pairs (the least recently refused goes first).
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const std::string& path,
                                                        size_t keep_recent = 200,
                                                        size_t keep_refusal_keys = 100);
  ~AuditLog();

  void Record(const AuditEvent& event);
  std::vector<AuditEvent> Recent() const;  // oldest first
  // The last issuances, which no flood of refusals pushes out; oldest first.
  std::vector<AuditEvent> RecentIssuances() const;
  // Most recently refused first.
  std::vector<RefusalCount> Refusals() const;

 private:
  AuditLog(std::FILE* file, size_t keep, size_t keep_refusal_keys)
      : file_(file), keep_(keep), keep_refusal_keys_(keep_refusal_keys) {}
  void CountRefusal(const AuditEvent& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable sync::Mutex mu_;
  std::FILE* const file_;
  const size_t keep_;
  const size_t keep_refusal_keys_;
  std::deque<AuditEvent> recent_ ABSL_GUARDED_BY(mu_);
  std::deque<AuditEvent> issuances_ ABSL_GUARDED_BY(mu_);
  // Key: spiffe_id, '\x1f', reason.
  std::map<std::string, RefusalCount> refusals_ ABSL_GUARDED_BY(mu_);
};

}  // namespace palisade::control::service

#endif  // PALISADE_CONTROL_SERVICE_AUDIT_LOG_H_
