#include "control/state/etcd/etcd_store.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "runtime/status/status_macros.h"

namespace palisade::control::state::etcd {

absl::StatusOr<std::unique_ptr<EtcdStore>> EtcdStore::Create(const EtcdClientOptions& options,
                                                             const std::string& prefix) {
  RETURN_IF_ERROR(CheckPrefix(prefix));
  ASSIGN_OR_RETURN(std::unique_ptr<EtcdClient> client, EtcdClient::Create(options));
  return std::unique_ptr<EtcdStore>(new EtcdStore(options, std::move(client), prefix));
}

absl::StatusOr<std::unique_ptr<EtcdClient>> EtcdStore::NewWatchClient() const {
  return EtcdClient::Create(options_);
}

std::string EtcdStore::Describe() const {
  return absl::StrCat(client_->Describe(), " under ", prefix_);
}

absl::StatusOr<std::optional<StoredRecord>> EtcdStore::Get(const std::string& key) {
  ASSIGN_OR_RETURN(std::optional<KeyValue> kv, client_->Get(FullKey(key)));
  if (!kv.has_value()) return std::optional<StoredRecord>();
  return StoredRecord{kv->key, kv->value, kv->mod_revision};
}

absl::StatusOr<std::vector<StoredRecord>> EtcdStore::List(const std::string& prefix,
                                                          int64_t* revision) {
  ASSIGN_OR_RETURN(std::vector<KeyValue> kvs, client_->List(FullKey(prefix), revision));
  std::vector<StoredRecord> out;
  for (KeyValue& kv : kvs) out.push_back({std::move(kv.key), std::move(kv.value), kv.mod_revision});
  return out;
}

absl::StatusOr<bool> EtcdStore::PutIf(const std::string& key, const std::string& value,
                                      int64_t expected, int64_t* revision) {
  return client_->PutIf(FullKey(key), value, expected, revision);
}

absl::StatusOr<bool> EtcdStore::DeleteIf(const std::string& key, int64_t expected) {
  return client_->DeleteIf(FullKey(key), expected);
}

}  // namespace palisade::control::state::etcd
