// The deny-list's durable form: <state_dir>/revocations.json, written
// atomically (state_files.h). Only records in and out, no policy, so that
// another store (etcd) can take the same records later.
#ifndef PALISADE_CONTROL_STATE_REVOCATION_FILE_H_
#define PALISADE_CONTROL_STATE_REVOCATION_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace palisade::control::state {

struct RevocationRecord {
  std::string spiffe_id;
  absl::Time revoked_at;
  // When the last certificate issued to the identity expires.
  absl::Time expires_at;
  std::string reason;  // "deregistered"
};

struct RevocationState {
  uint64_t version = 0;  // increases with every change
  std::vector<RevocationRecord> entries;
};

// An empty state when the file does not exist; FailedPrecondition naming the
// file and the field for anything malformed (never silently emptied).
absl::StatusOr<RevocationState> ReadRevocations(const std::string& path);
absl::Status WriteRevocations(const std::string& path, const RevocationState& state);

}  // namespace palisade::control::state

#endif  // PALISADE_CONTROL_STATE_REVOCATION_FILE_H_
