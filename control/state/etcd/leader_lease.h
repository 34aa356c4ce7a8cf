// Leadership among palisade-control replicas through an etcd lease, for what
// must happen once in the cluster (rollover steps, the intermediate's
// renewal). Each contender holds a lease of `ttl` and keeps it alive; it
// campaigns by creating `key` (value: its replica id) attached to that lease
// only if the key is absent, so at most one contender holds it. It leads
// while the key carries its lease and its last keep-alive was sent less than
// `ttl` ago: a contender cut off from etcd stops leading by itself before
// etcd lets the lease (and the key) expire and another takes over. A
// contender that lost its lease grants a new one and campaigns again. Stop()
// resigns (revokes the lease, so the key and everything attached to it go at
// once); a killed contender's key goes when its lease expires.
//
// One thread per LeaderLease; the accessors are thread-safe.
#ifndef PALISADE_CONTROL_STATE_ETCD_LEADER_LEASE_H_
#define PALISADE_CONTROL_STATE_ETCD_LEADER_LEASE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "control/state/etcd/etcd_client.h"
#include "control/state/shared_store.h"
#include "runtime/sync/mutex.h"

namespace palisade::control::state::etcd {

struct LeaderLeaseOptions {
  std::string key;         // full etcd key, e.g. "/palisade/example.org/leader"
  std::string replica_id;  // what the key holds while this contender leads
  absl::Duration ttl = absl::Seconds(10);
  // How often the key is read (who leads) and a free key campaigned for;
  // keep-alives go every ttl/3. The default is min(1s, ttl/3).
  absl::Duration poll = absl::ZeroDuration();
};

// --leader_lease_ttl: whole seconds from 2s to 5m (etcd leases count in
// seconds; under 2s a loaded machine loses leadership to one slow
// keep-alive). InvalidArgument naming the flag.
absl::Status CheckLeaderLeaseTtl(absl::Duration ttl);
// --replica_id: 1 to 128 characters of [A-Za-z0-9._-] (it is a key segment).
absl::Status CheckReplicaId(const std::string& id);
// The default --replica_id: "<host name>-<pid>", sanitised to the above.
std::string DefaultReplicaId();

class LeaderLease : public LeaderWrites {
 public:
  // `client` is the lease's own.
  LeaderLease(std::unique_ptr<EtcdClient> client, LeaderLeaseOptions options);
  ~LeaderLease() override;  // Stop(/*resign=*/true)

  // Grants the first lease (so records can be attached at once) and starts
  // the thread. An etcd that cannot be reached is not an error: the thread
  // keeps trying and the contender does not lead meanwhile.
  void Start();
  // Ends the thread; with `resign` revokes the lease (bounded by the
  // client's call timeout).
  void Stop(bool resign = true);

  bool IsLeader() const;
  // The replica id the key holds ("" when none is known to lead).
  std::string Leader() const;
  // How often this contender's role changed (became leader or stopped).
  uint64_t changes() const;
  // The current lease, 0 while none is held.
  int64_t lease_id() const;

  // Writes `key` (full) attached to this contender's lease, so it vanishes
  // with it. FailedPrecondition while no lease is held.
  absl::Status PutAttached(const std::string& key, const std::string& value);
  // Like PutAttached but only if `key` is absent: false if it exists.
  absl::StatusOr<bool> CreateAttached(const std::string& key, const std::string& value);
  // Like PutAttached but only if `key` is attached to this contender's
  // current lease already: false if absent or someone else's.
  absl::StatusOr<bool> RewriteAttached(const std::string& key, const std::string& value);
  // The fence of this contender's leadership (the leader key holds our id
  // under our lease), for writes only a leader may make; nullopt when it
  // does not lead.
  std::optional<Fence> LeaderFence() const;
  // A compare-and-swap carrying LeaderFence(): false when this contender
  // does not lead, by its own view or, in the same transaction, by etcd's.
  absl::StatusOr<bool> PutIfLeading(const std::string& key, const std::string& value,
                                    int64_t expected, int64_t* revision) override;

 private:
  void Run();
  void Step(absl::Time now);
  void SetRole(bool leader, const std::string& leader_id) ABSL_LOCKS_EXCLUDED(mu_);

  std::unique_ptr<EtcdClient> client_;
  const LeaderLeaseOptions options_;
  absl::Notification stop_;
  std::thread thread_;
  bool stopped_ = false;  // Stop() ran; owner's thread only

  // Thread only.
  absl::Time last_keepalive_ = absl::InfinitePast();

  mutable sync::Mutex mu_;
  int64_t lease_id_ ABSL_GUARDED_BY(mu_) = 0;
  // When the last successful keep-alive (or grant) was sent: the lease
  // lives at least until this + ttl.
  absl::Time lease_confirmed_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool leader_ ABSL_GUARDED_BY(mu_) = false;
  std::string leader_id_ ABSL_GUARDED_BY(mu_);
  uint64_t changes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace palisade::control::state::etcd

#endif  // PALISADE_CONTROL_STATE_ETCD_LEADER_LEASE_H_
