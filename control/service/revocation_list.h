// The control plane's deny-list: identities revoked (de-registered), each
// until the last certificate issued to it has expired. Every change is
// written at once (control/state/revocation_file.h) before it is pushed, so
// a restart keeps it; entries past their expiry are pruned.
#ifndef PALISADE_CONTROL_SERVICE_REVOCATION_LIST_H_
#define PALISADE_CONTROL_SERVICE_REVOCATION_LIST_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "control/state/revocation_file.h"
#include "runtime/sync/mutex.h"

namespace palisade::control::service {

// Thread-safe.
class RevocationList {
 public:
  // `path` empty: memory only (tests).
  static absl::StatusOr<std::unique_ptr<RevocationList>> Open(const std::string& path);

  // Lists `spiffe_id` until `expires_at`, or keeps it longer if it already is.
  // Returns whether anything changed.
  absl::StatusOr<bool> Revoke(const std::string& spiffe_id, absl::Time expires_at,
                              const std::string& reason, absl::Time now);
  // A certificate issued to a listed identity (a CSR that raced the
  // revocation) keeps the entry until it expires too. False when not listed
  // or nothing changed.
  absl::StatusOr<bool> ExtendIfListed(const std::string& spiffe_id, absl::Time not_after);
  // Returns whether it was listed.
  absl::StatusOr<bool> Remove(const std::string& spiffe_id);
  // Drops entries whose expiry + `margin` (the peers' clock skew) has passed;
  // returns how many.
  absl::StatusOr<size_t> Prune(absl::Time now, absl::Duration margin);

  bool Contains(const std::string& spiffe_id) const;
  state::RevocationState Snapshot() const;

 private:
  explicit RevocationList(std::string path) : path_(std::move(path)) {}
  // Writes the list with the version bumped; on failure memory is restored
  // by the caller.
  absl::Status Save() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  state::RevocationState StateLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  mutable sync::Mutex mu_;
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, state::RevocationRecord> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace palisade::control::service

#endif  // PALISADE_CONTROL_SERVICE_REVOCATION_LIST_H_
