// What palisade-control replicas on etcd (--store=etcd) coordinate beside
// the shared records: who leads (an etcd lease on "leader"; only the leader
// takes rollover steps and renews the intermediate), every replica's
// rollover view of its own proxies (published under "replicas/<replica_id>"
// attached to its lease, so a dead replica's view vanishes with it), and the
// rollover status ("rollover/status", written by compare-and-swap).
//
// A rollover started through any replica is written there by that replica
// (the start: a new root, the phase "propagating"); the leader reads the
// stored status on every tick and drives it from the phase it finds, so a
// new leader resumes where the last one stopped.
#ifndef PALISADE_CONTROL_SERVER_REPLICA_COORDINATION_H_
#define PALISADE_CONTROL_SERVER_REPLICA_COORDINATION_H_

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "control/ca/rollover_machine.h"
#include "control/state/etcd/etcd_store.h"
#include "control/state/etcd/leader_lease.h"
#include "runtime/sync/mutex.h"

namespace palisade::control::server {

// A replica's published view: {"replica_id", "proxies": [{"name",
// "acked_bundle_version", "leaf_root", "connections_by_root"}]}.
nlohmann::json ReplicaViewToJson(const std::string& replica_id,
                                 const std::vector<ca::ProxyView>& proxies);
absl::StatusOr<std::vector<ca::ProxyView>> ReplicaViewFromJson(const std::string& text);

struct StoredRollover {
  ca::RolloverStatus status;
  int64_t revision = 0;  // 0: none stored yet
};

class ReplicaCoordination {
 public:
  // `store` outlives this; the lease gets a client of its own.
  static absl::StatusOr<std::unique_ptr<ReplicaCoordination>> Create(state::etcd::EtcdStore* store,
                                                                     const std::string& replica_id,
                                                                     absl::Duration lease_ttl);
  ~ReplicaCoordination();

  // Starts the lease and claims "replicas/<replica_id>" under it (created
  // only if absent), so two live replicas never share an id. A key held by
  // another lease (a replica killed within its TTL, or a live duplicate) is
  // waited for up to `claim_wait`; still held then: FailedPrecondition naming
  // --replica_id. An etcd that cannot be reached does not stop the start: the
  // claim is made on the first publish instead (PublishIfDue).
  absl::Status Start(absl::Duration claim_wait);
  void Stop();  // resigns: the lease, the leader key and our view go at once
  // "" normally; "replica_id_in_use: ..." while another lease holds our key.
  std::string Problem() const;

  const std::string& replica_id() const { return replica_id_; }
  bool IsLeader() const { return lease_->IsLeader(); }
  uint64_t leader_changes() const { return lease_->changes(); }
  // {"replica_id", "role": "leader"|"follower", "leader", "leader_changes",
  //  "lease_ttl_seconds"}.
  nlohmann::json Json() const;

  // Publishes this replica's proxies at most every `every` (and at once
  // the first time a lease is held). Failures are logged once per change.
  void PublishIfDue(const std::vector<ca::ProxyView>& own, absl::Time now,
                    absl::Duration every = absl::Seconds(3));
  // `own` plus every other live replica's published proxies. A view that
  // does not parse is an error naming its key: the leader must not decide
  // "every proxy is done" on a partial fleet.
  absl::StatusOr<std::vector<ca::ProxyView>> ClusterFleet(const std::vector<ca::ProxyView>& own);

  absl::StatusOr<StoredRollover> LoadRollover();
  // Writes `status` if the stored revision is still `expected` (0: none);
  // false when someone wrote meanwhile. `*revision`: the new revision.
  // With `as_leader` (a rollover step), only while this replica still leads
  // (fenced on the leader key: our id under our lease), false otherwise.
  absl::StatusOr<bool> SaveRollover(const ca::RolloverStatus& status, int64_t expected,
                                    int64_t* revision, bool as_leader = false);
  // The same fenced writes, for the CA record's changes in a rollover step.
  state::LeaderWrites* leader_writes() { return lease_.get(); }

 private:
  ReplicaCoordination(state::etcd::EtcdStore* store, std::string replica_id,
                      absl::Duration lease_ttl, std::unique_ptr<state::etcd::LeaderLease> lease)
      : store_(store),
        replica_id_(std::move(replica_id)),
        lease_ttl_(lease_ttl),
        lease_(std::move(lease)) {}

  state::etcd::EtcdStore* const store_;
  const std::string replica_id_;
  const absl::Duration lease_ttl_;
  std::unique_ptr<state::etcd::LeaderLease> lease_;
  // Housekeeping thread only.
  absl::Time last_publish_ = absl::InfinitePast();
  int64_t published_lease_ = 0;
  std::string publish_problem_;
  // Claims (or, with the same lease, rewrites) our key with `value`: false
  // when another lease holds it.
  absl::StatusOr<bool> WriteOwnView(int64_t lease, const std::string& value);
  mutable sync::Mutex mu_;
  std::string id_problem_ ABSL_GUARDED_BY(mu_);
};

}  // namespace palisade::control::server

#endif  // PALISADE_CONTROL_SERVER_REPLICA_COORDINATION_H_
