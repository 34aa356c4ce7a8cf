// The control plane's deny-list: identities revoked (de-registered), each
// until the last certificate issued to it has expired. Every change is
// written at once (control/state/revocation_file.h) before it is pushed, so
// a restart keeps it; entries past their expiry are pruned. With replicas the
// list lives in the shared store instead (revocation_shared.cc).
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
#include "control/state/shared_store.h"
#include "runtime/sync/mutex.h"

namespace palisade::control::service {

// Thread-safe.
class RevocationList {
 public:
  // `path` empty: memory only (tests).
  static absl::StatusOr<std::unique_ptr<RevocationList>> Open(const std::string& path);
  // Replicas: each entry a record "revocations/<SPIFFE ID>" in `store` (which
  // must outlive this), changed by compare-and-swap; a change fails
  // (store_unavailable) when the store cannot be reached. Memory starts empty
  // and follows the store through ReplaceFromStore; the version is the
  // store's revision, the same on every replica.
  static std::unique_ptr<RevocationList> OpenShared(state::SharedStore* store);

  // What the watcher saw under "revocations/" at `revision`: replaces memory.
  // A record that does not parse keeps what memory held for that identity
  // and comes back as an error naming its key.
  struct Changes {
    std::vector<std::string> added;    // newly listed identities
    std::vector<std::string> removed;  // no longer listed
    std::vector<absl::Status> errors;
    bool changed = false;  // the list (and its version) changed
  };
  Changes ReplaceFromStore(const std::vector<state::StoredRecord>& records, int64_t revision);

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
  explicit RevocationList(std::string path, state::SharedStore* shared = nullptr)
      : path_(std::move(path)), shared_(shared) {}
  // Shared mode: lists `spiffe_id` until at least `expires_at` in the store
  // (`only_if_listed`: only extends an entry that is there). Whether it
  // changed anything.
  absl::StatusOr<bool> SharedRevoke(const std::string& spiffe_id, absl::Time expires_at,
                                    const std::string& reason, absl::Time now, bool only_if_listed);
  absl::StatusOr<bool> SharedRemove(const std::string& spiffe_id, bool only_if_expired_by,
                                    absl::Time deadline);
  // Writes the list with the version bumped; on failure memory is restored
  // by the caller.
  absl::Status Save() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  state::RevocationState StateLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  state::SharedStore* const shared_;  // null: the file at path_
  mutable sync::Mutex mu_;
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, state::RevocationRecord> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace palisade::control::service

#endif  // PALISADE_CONTROL_SERVICE_REVOCATION_LIST_H_
