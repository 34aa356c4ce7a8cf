// What the control plane remembers about workloads between streams: which
// SPIFFE IDs are de-registered, and every certificate it issued that has not
// expired (serial -> identity and the bootstrap credential it descends from),
// so renewals can be traced back to a revoked join token. Persisted in
// <state_dir>/workloads.json. What it holds per identity is bounded: the
// issuance limiter caps unexpired certificates per identity (counted here),
// and at most `max_instances_per_identity` workload records are kept.
#ifndef PALISADE_CONTROL_SERVICE_WORKLOAD_REGISTRY_H_
#define PALISADE_CONTROL_SERVICE_WORKLOAD_REGISTRY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/sync/mutex.h"

namespace palisade::control::service {

struct IssuedCertificate {
  std::string serial;
  std::string spiffe_id;
  std::string instance;
  std::string lineage;  // "join_token:<id>", "service_account" or "unknown"
  absl::Time not_before;
  absl::Time not_after;
  absl::Time issued_at;
  std::string root_fingerprint;
  bool renewal = false;
};

// The latest certificate of one (SPIFFE ID, instance) and how often it renewed.
struct WorkloadRecord {
  IssuedCertificate latest;
  uint64_t renewals = 0;
};

// Thread-safe. De-registration is written at once; issuances are written by
// Flush() (called periodically), so a crash loses at most the last interval's
// lineage records, never a de-registration.
class WorkloadRegistry {
 public:
  // `path` empty: memory only (tests).
  static absl::StatusOr<std::unique_ptr<WorkloadRegistry>> Open(
      const std::string& path, size_t max_instances_per_identity = 128);

  bool IsDeregistered(const std::string& spiffe_id) const;
  // Returns whether it was registered before.
  absl::StatusOr<bool> Deregister(const std::string& spiffe_id, absl::Time now);
  absl::StatusOr<bool> Reregister(const std::string& spiffe_id);
  std::vector<std::string> Deregistered() const;

  void RecordIssuance(const IssuedCertificate& cert);
  // The lineage of a certificate we issued, if we still remember it.
  std::optional<std::string> LineageOf(const std::string& serial) const;
  std::vector<WorkloadRecord> Workloads() const;

  // The certificates of `spiffe_id` not expired at `now`, and when the
  // earliest of them expires (InfiniteFuture if none).
  struct Unexpired {
    size_t count = 0;
    absl::Time earliest_not_after = absl::InfiniteFuture();
  };
  Unexpired UnexpiredOf(const std::string& spiffe_id, absl::Time now) const;
  // The latest notAfter of the certificates of `spiffe_id` it remembers
  // (unexpired ones, and those expired since the last Flush).
  std::optional<absl::Time> LatestNotAfter(const std::string& spiffe_id) const;

  // Forgets certificates expired before `now` and writes the file if anything
  // changed since the last write.
  absl::Status Flush(absl::Time now);

 private:
  WorkloadRegistry(std::string path, size_t max_instances)
      : path_(std::move(path)), max_instances_(max_instances) {}
  absl::Status Save() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Index(const IssuedCertificate& cert) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Instance names come from the proxy: a new one past the limit replaces
  // the identity's least recently issued record.
  void UpdateWorkload(const IssuedCertificate& cert) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  const size_t max_instances_;
  mutable sync::Mutex mu_;
  std::map<std::string, absl::Time> deregistered_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, IssuedCertificate> certificates_ ABSL_GUARDED_BY(mu_);  // by serial
  // spiffe_id -> (not_after, serial) of its certificates in certificates_.
  std::map<std::string, std::set<std::pair<absl::Time, std::string>>> by_identity_
      ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, std::string>, WorkloadRecord> workloads_ ABSL_GUARDED_BY(mu_);
  bool dirty_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace palisade::control::service

#endif  // PALISADE_CONTROL_SERVICE_WORKLOAD_REGISTRY_H_
