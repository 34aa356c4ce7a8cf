// The replicas' shared state (--store=etcd): the etcd store that join tokens,
// the deny-list and a self-managed CA live in, and the watches that keep this
// replica's view of them current. Whether the store can be reached is what /ready reports.
#ifndef PALISADE_CONTROL_SERVER_SHARED_STATE_H_
#define PALISADE_CONTROL_SERVER_SHARED_STATE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "control/state/etcd/etcd_store.h"
#include "control/state/etcd/etcd_tls_bridge.h"
#include "control/state/etcd/etcd_tls_config.h"
#include "control/state/etcd/prefix_watcher.h"
#include "control/state/shared_store.h"
#include "runtime/sync/mutex.h"

namespace palisade::control::server {

struct SharedStateOptions {
  std::vector<std::string> endpoints;  // host:port of etcd members
  std::string prefix;                  // "/palisade/<trust domain>/" by default
  absl::Duration call_timeout = absl::Seconds(2);
  // TLS to etcd (null: plaintext): one bridge per endpoint is started.
  std::shared_ptr<const state::etcd::EtcdTlsConfig> tls;
};

class SharedState {
 public:
  using OnRecords = std::function<void(const std::vector<state::StoredRecord>&, int64_t revision)>;
  static absl::StatusOr<std::unique_ptr<SharedState>> Create(const SharedStateOptions& options);
  ~SharedState();

  state::SharedStore* store() { return store_.get(); }
  state::etcd::EtcdStore* etcd_store() { return store_.get(); }
  // Starts mirroring tokens/ and revocations/; the callbacks run on the
  // watchers' threads, first with what is there, then after every change.
  absl::Status Watch(OnRecords on_tokens, OnRecords on_revocations);
  // Starts mirroring ca/ (the self-managed CA's record), as Watch does.
  absl::Status WatchCa(OnRecords on_ca);
  // Ends the watches (before what the callbacks use goes away).
  void Stop();
  // "" while both watches stand; else "store_unavailable: ...". Thread-safe
  // (renewals ask from gRPC's threads with --renewals_without_store=refuse).
  std::string Problem() const;
  // With TLS to etcd: failures since start by (endpoint, reason); else empty.
  std::map<std::pair<std::string, std::string>, uint64_t> TlsFailures() const;

 private:
  SharedState(std::unique_ptr<state::etcd::EtcdStore> store,
              std::shared_ptr<const state::etcd::EtcdTlsBridges> tls)
      : store_(std::move(store)), tls_(std::move(tls)) {}
  std::unique_ptr<state::etcd::EtcdStore> store_;
  std::shared_ptr<const state::etcd::EtcdTlsBridges> tls_;  // null: plaintext
  mutable sync::Mutex mu_;
  std::vector<std::unique_ptr<state::etcd::PrefixWatcher>> watchers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace palisade::control::server

#endif  // PALISADE_CONTROL_SERVER_SHARED_STATE_H_
