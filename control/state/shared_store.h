// What palisade-control replicas share: records by key, each read with its
// revision and written only if that revision still holds (compare-and-swap),
// and watched. The etcd implementation is control/state/etcd/etcd_store.h;
// with --store=file (one replica) nothing is shared and each store keeps its
// own file in the state directory, as before.
//
// Records are JSON with a schema version (shared_record.h); one that does
// not parse is refused with an error naming its key and never overwritten.
#ifndef PALISADE_CONTROL_STATE_SHARED_STORE_H_
#define PALISADE_CONTROL_STATE_SHARED_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace palisade::control::state {

struct StoredRecord {
  std::string key;  // the full key, as errors name it
  std::string value;
  int64_t revision = 0;  // of its last change; 0 = absent
};

// Thread-safe. Keys are relative ("tokens/jt-..."); the store adds its
// prefix. An unreachable store is UNAVAILABLE with a message that starts
// "store_unavailable: ".
class SharedStore {
 public:
  virtual ~SharedStore() = default;
  // "etcd 127.0.0.1:2379,... under /palisade/example.org/".
  virtual std::string Describe() const = 0;
  virtual std::string FullKey(const std::string& key) const = 0;
  virtual absl::StatusOr<std::optional<StoredRecord>> Get(const std::string& key) = 0;
  // Every record under `prefix`, and the revision they were read at.
  virtual absl::StatusOr<std::vector<StoredRecord>> List(const std::string& prefix,
                                                         int64_t* revision) = 0;
  // Writes if the record's revision is still `expected` (0: only if absent);
  // false when it changed meanwhile. `*revision`: the write's revision.
  virtual absl::StatusOr<bool> PutIf(const std::string& key, const std::string& value,
                                     int64_t expected, int64_t* revision) = 0;
  virtual absl::StatusOr<bool> DeleteIf(const std::string& key, int64_t expected) = 0;
};

// Writes only the leader among replicas may make (the CA record's changes in
// a rollover step, the rollover status): the same compare-and-swap, which the
// store also refuses in the same transaction while this replica does not lead
// (etcd: the leader key holds our id under our lease), so a leader that
// stalled past its lease cannot write after another took over.
class LeaderWrites {
 public:
  virtual ~LeaderWrites() = default;
  // As SharedStore::PutIf with a full key (SharedStore::FullKey); false also
  // when this replica does not lead.
  virtual absl::StatusOr<bool> PutIfLeading(const std::string& key, const std::string& value,
                                            int64_t expected, int64_t* revision) = 0;
};

}  // namespace palisade::control::state

#endif  // PALISADE_CONTROL_STATE_SHARED_STORE_H_
