// The single writer of credential snapshots. Identity sources (files, the
// control plane) hand it material; it checks it, builds a snapshot and hands
// that to every subscriber (the workers). A bad update changes nothing.
#ifndef PALISADE_PROXY_CREDENTIALS_CREDENTIAL_STORE_H_
#define PALISADE_PROXY_CREDENTIALS_CREDENTIAL_STORE_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "identity/spiffe_id.h"
#include "identity/trust_bundle.h"
#include "proxy/credentials/credential_snapshot.h"
#include "runtime/sync/mutex.h"
#include "runtime/tls/ticket_key_ring.h"

namespace palisade::credentials {

// Thread-safe. Subscribers run on the thread that calls Update(), in order;
// they must be quick (workers just Post the pointer to their loop).
class CredentialStore {
 public:
  struct Options {
    std::optional<identity::SpiffeId> expected_id;
    tls::TlsSettings tls;
    absl::Duration ticket_key_rotation = absl::Hours(1);
    absl::Duration clock_skew = absl::ZeroDuration();
    std::function<absl::Time()> clock = [] { return absl::Now(); };
  };
  using Snapshot = std::shared_ptr<const CredentialSnapshot>;
  using Subscriber = std::function<void(const Snapshot&)>;

  explicit CredentialStore(Options options);

  // A new SVID (and bundles). Returns why it was refused; the running
  // snapshot then stays.
  absl::Status Update(CredentialMaterial material);
  // New bundles for the current SVID (e.g. a root rollover push).
  absl::Status UpdateBundles(identity::TrustBundleSet bundles, const std::string& source);
  // A new deny-list (the control plane's revocations): published at once
  // with the current SVID, and kept for every later snapshot. Before the
  // first SVID it waits for it, so the first snapshot already enforces it.
  void UpdateDenyList(std::shared_ptr<const identity::DenyList> list);

  Snapshot Current() const;
  // Called at once with the current snapshot (if any), then with every new one.
  void Subscribe(Subscriber subscriber);

  struct Stats {
    uint64_t accepted = 0;
    uint64_t rejected = 0;
    std::string last_error;
    absl::Time last_update;
  };
  Stats stats() const;

 private:
  absl::Status Publish(CredentialMaterial material) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mutex_);
  // Makes `snapshot` current and hands it to every subscriber.
  void Install(std::shared_ptr<CredentialSnapshot> snapshot, bool bundle_changed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mutex_);

  const Options options_;
  // Serialises writers; never held by readers of Current().
  sync::Mutex write_mutex_;
  std::shared_ptr<tls::TicketKeyRing> ticket_keys_ ABSL_GUARDED_BY(write_mutex_);
  std::map<std::string, std::vector<std::string>> bundle_fingerprints_
      ABSL_GUARDED_BY(write_mutex_);
  uint64_t bundle_generation_ ABSL_GUARDED_BY(write_mutex_) = 0;
  std::shared_ptr<const identity::DenyList> deny_list_ ABSL_GUARDED_BY(write_mutex_);

  mutable sync::Mutex mutex_;
  Snapshot current_ ABSL_GUARDED_BY(mutex_);
  std::vector<Subscriber> subscribers_ ABSL_GUARDED_BY(mutex_);
  Stats stats_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace palisade::credentials

#endif  // PALISADE_PROXY_CREDENTIALS_CREDENTIAL_STORE_H_
