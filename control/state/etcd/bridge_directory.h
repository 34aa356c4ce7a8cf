// Where the etcd TLS bridges put gRPC's unix sockets: private directories
// "<$TMPDIR or /tmp>/palisade-etcd-<pid>-XXXXXX" (mode 0700, one per etcd
// endpoint), removed on a clean stop. A palisade-control killed with -9
// leaves its own behind; the next start removes those it can prove are
// stale: ours (this uid, the name's pattern) and their process gone.
#ifndef PALISADE_CONTROL_STATE_ETCD_BRIDGE_DIRECTORY_H_
#define PALISADE_CONTROL_STATE_ETCD_BRIDGE_DIRECTORY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace palisade::control::state::etcd {

// $TMPDIR, or /tmp when unset or empty.
std::string BridgeParent();

// A new directory under `parent` named after this process, only this user
// can enter. FailedPrecondition naming the path when it cannot be made.
absl::StatusOr<std::string> MakeBridgeDirectory(const std::string& parent);

// Removes `parent`'s "palisade-etcd-<pid>-*" directories that this uid owns
// (not symbolic links) whose process <pid> is gone: no such process, or one
// started after the directory last changed (the pid was used again). Only
// the directory and the files in it go. Returns the paths removed.
std::vector<std::string> RemoveStaleBridgeDirectories(const std::string& parent);

}  // namespace palisade::control::state::etcd

#endif  // PALISADE_CONTROL_STATE_ETCD_BRIDGE_DIRECTORY_H_
