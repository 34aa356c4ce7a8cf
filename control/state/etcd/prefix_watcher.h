// Keeps one etcd prefix mirrored: lists it, watches it from the revision it
// listed at, and hands every new state (all records under the prefix, with
// the revision) to a callback on its own thread. A broken watch is
// re-established by itself (list again, then watch from there: this also
// covers a compaction), at once on another member when one dies; Problem()
// says what is wrong once it has lasted `grace`, so losing one member of a
// cluster does not make the replica look unready.
#ifndef PALISADE_CONTROL_STATE_ETCD_PREFIX_WATCHER_H_
#define PALISADE_CONTROL_STATE_ETCD_PREFIX_WATCHER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "control/state/etcd/etcd_client.h"
#include "control/state/shared_store.h"
#include "runtime/sync/mutex.h"

namespace palisade::control::state::etcd {

class PrefixWatcher {
 public:
  using OnState = std::function<void(const std::vector<StoredRecord>&, int64_t revision)>;
  // `client` is the watcher's own; `prefix` is the full key prefix.
  PrefixWatcher(std::unique_ptr<EtcdClient> client, std::string prefix, OnState on_state,
                absl::Duration retry = absl::Milliseconds(300),
                absl::Duration grace = absl::Seconds(3));
  ~PrefixWatcher();  // stops the thread
  void Start();

  // "" once the prefix is listed and watched, or while a lost watch is being
  // re-established for less than `grace`; otherwise why not.
  std::string Problem() const;

 private:
  void Run();
  void SetProblem(const std::string& problem);

  std::unique_ptr<EtcdClient> client_;
  const std::string prefix_;
  const OnState on_state_;
  const absl::Duration retry_;
  const absl::Duration grace_;
  absl::Notification stop_;
  std::thread thread_;
  mutable sync::Mutex mu_;
  std::string problem_ ABSL_GUARDED_BY(mu_) = "store_unavailable: not yet read from etcd";
  // When problem_ last became non-empty; InfinitePast until the first watch
  // stands (before it, the replica has never been ready).
  absl::Time problem_since_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace palisade::control::state::etcd

#endif  // PALISADE_CONTROL_STATE_ETCD_PREFIX_WATCHER_H_
