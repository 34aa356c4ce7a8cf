// The root rollover phase machine, free of I/O and clocks (time is passed
// in): idle -> propagating (new root in the bundle; wait for every connected
// proxy's BundleAck) -> rekeying (issuance under the new root; wait for every
// proxy to hold a leaf from it) -> retiring (wait until no proxy reports live
// connections on an old root) -> idle (old roots removed). Each wait ends
// early when satisfied or after its timeout, recording who held it up.
#ifndef PALISADE_CONTROL_CA_ROLLOVER_MACHINE_H_
#define PALISADE_CONTROL_CA_ROLLOVER_MACHINE_H_

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace palisade::control::ca {

enum class RolloverPhase { kIdle, kPropagating, kRekeying, kRetiring };
absl::string_view PhaseName(RolloverPhase phase);

// What the machine needs to know about one connected proxy.
struct ProxyView {
  std::string name;  // "spiffe://td/ns/a/sa/b (instance)"
  uint64_t acked_bundle_version = 0;
  std::string leaf_root_fingerprint;  // root under which its current SVID was issued
  std::map<std::string, uint64_t> connections_by_root;  // from its last ConnectionReport
};

struct RolloverTimeouts {
  absl::Duration propagating = absl::Minutes(10);
  absl::Duration rekeying = absl::Minutes(30);
  absl::Duration retiring = absl::Hours(1);
  // Propagating lasts at least this long even when every proxy acknowledged:
  // trust domains federated with this one fetch the new bundle from its
  // bundle endpoint only at their next refresh, and must hold the new root
  // before any leaf (or the endpoint's own SVID) is issued under it.
  absl::Duration propagating_min = absl::ZeroDuration();
};

struct RolloverStatus {
  RolloverPhase phase = RolloverPhase::kIdle;
  absl::Time started_at = absl::InfinitePast();
  absl::Time phase_started_at = absl::InfinitePast();
  uint64_t target_bundle_version = 0;  // the first version carrying the new root
  std::string new_root;
  std::vector<std::string> old_roots;
  std::vector<std::string> waiting_on;  // as of the last evaluation
  // One line per phase change ("<UTC time> <from> -> <to>: <why>"), over this
  // and earlier rollovers, the oldest first and at most kMaxRolloverHistory.
  std::vector<std::string> history;
};

// 16 whole rollovers; saved with the rest of the status.
inline constexpr size_t kMaxRolloverHistory = 64;

// The history as [{"time", "from", "to", "detail"}] (newest last); a line of
// another shape is kept whole as "detail".
nlohmann::json RolloverHistoryToJson(const std::vector<std::string>& history);

nlohmann::json RolloverStatusToJson(const RolloverStatus& status);
absl::StatusOr<RolloverStatus> RolloverStatusFromJson(const nlohmann::json& json);

// Single-threaded; the owner serialises calls.
class RolloverMachine {
 public:
  explicit RolloverMachine(RolloverTimeouts timeouts) : timeouts_(timeouts) {}

  void Restore(RolloverStatus status) { status_ = std::move(status); }
  const RolloverStatus& status() const { return status_; }
  const RolloverTimeouts& timeouts() const { return timeouts_; }

  // idle -> propagating. FailedPrecondition when a rollover is under way.
  absl::Status Start(absl::Time now, uint64_t target_bundle_version, std::string new_root,
                     std::vector<std::string> old_roots);

  // What the owner must do on entering the new phase.
  enum class Transition {
    kNone,
    kEnterRekeying,  // switch issuance to the new root, re-key everyone
    kEnterRetiring,  // nothing to do but wait
    kFinish,         // remove old roots from the bundle, push it
  };
  Transition Evaluate(absl::Time now, const std::vector<ProxyView>& fleet);

 private:
  void Advance(RolloverPhase next, absl::Time now, bool timed_out);
  void AddHistory(std::string line);

  RolloverTimeouts timeouts_;
  RolloverStatus status_;
};

}  // namespace palisade::control::ca

#endif  // PALISADE_CONTROL_CA_ROLLOVER_MACHINE_H_
