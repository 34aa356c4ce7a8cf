// SharedStore on etcd: every key under one prefix (--etcd_prefix, by default
// /palisade/<trust domain>/).
#ifndef PALISADE_CONTROL_STATE_ETCD_ETCD_STORE_H_
#define PALISADE_CONTROL_STATE_ETCD_ETCD_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "control/state/etcd/etcd_client.h"
#include "control/state/shared_store.h"

namespace palisade::control::state::etcd {

class EtcdStore : public SharedStore {
 public:
  // `prefix` must start and end with "/".
  static absl::StatusOr<std::unique_ptr<EtcdStore>> Create(const EtcdClientOptions& options,
                                                           const std::string& prefix);

  std::string Describe() const override;
  std::string FullKey(const std::string& key) const override { return prefix_ + key; }
  absl::StatusOr<std::optional<StoredRecord>> Get(const std::string& key) override;
  absl::StatusOr<std::vector<StoredRecord>> List(const std::string& prefix,
                                                 int64_t* revision) override;
  absl::StatusOr<bool> PutIf(const std::string& key, const std::string& value, int64_t expected,
                             int64_t* revision) override;
  absl::StatusOr<bool> DeleteIf(const std::string& key, int64_t expected) override;

  EtcdClient& client() { return *client_; }
  // A client of its own for a long-lived watch, so that cancelling it
  // touches nothing else.
  absl::StatusOr<std::unique_ptr<EtcdClient>> NewWatchClient() const;
  const std::string& prefix() const { return prefix_; }

 private:
  EtcdStore(EtcdClientOptions options, std::unique_ptr<EtcdClient> client, std::string prefix)
      : options_(std::move(options)), client_(std::move(client)), prefix_(std::move(prefix)) {}
  const EtcdClientOptions options_;
  std::unique_ptr<EtcdClient> client_;
  const std::string prefix_;
};

}  // namespace palisade::control::state::etcd

#endif  // PALISADE_CONTROL_STATE_ETCD_ETCD_STORE_H_
