#include "control/server/shared_state.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "runtime/status/status_macros.h"

namespace palisade::control::server {

absl::StatusOr<std::unique_ptr<SharedState>> SharedState::Create(
    const SharedStateOptions& options) {
  state::etcd::EtcdClientOptions client;
  client.endpoints = options.endpoints;
  client.call_timeout = options.call_timeout;
  if (options.tls != nullptr) {
    ASSIGN_OR_RETURN(client.tls,
                     state::etcd::EtcdTlsBridges::Start(options.tls, options.endpoints));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<state::etcd::EtcdStore> store,
                   state::etcd::EtcdStore::Create(client, options.prefix));
  return std::unique_ptr<SharedState>(new SharedState(std::move(store), client.tls));
}

SharedState::~SharedState() { Stop(); }

absl::Status SharedState::Watch(OnRecords on_tokens, OnRecords on_revocations) {
  for (auto& [dir, callback] : std::vector<std::pair<std::string, OnRecords>>{
           {"tokens/", std::move(on_tokens)}, {"revocations/", std::move(on_revocations)}}) {
    ASSIGN_OR_RETURN(std::unique_ptr<state::etcd::EtcdClient> client, store_->NewWatchClient());
    auto watcher = std::make_unique<state::etcd::PrefixWatcher>(
        std::move(client), store_->FullKey(dir), std::move(callback));
    watcher->Start();
    sync::MutexLock lock(&mu_);
    watchers_.push_back(std::move(watcher));
  }
  return absl::OkStatus();
}

absl::Status SharedState::WatchCa(OnRecords on_ca) {
  ASSIGN_OR_RETURN(std::unique_ptr<state::etcd::EtcdClient> client, store_->NewWatchClient());
  auto watcher = std::make_unique<state::etcd::PrefixWatcher>(
      std::move(client), store_->FullKey("ca/"), std::move(on_ca));
  watcher->Start();
  sync::MutexLock lock(&mu_);
  watchers_.push_back(std::move(watcher));
  return absl::OkStatus();
}

void SharedState::Stop() {
  // Destroyed outside the lock: a watcher's destructor joins its thread.
  std::vector<std::unique_ptr<state::etcd::PrefixWatcher>> stopping;
  {
    sync::MutexLock lock(&mu_);
    stopping.swap(watchers_);
  }
  stopping.clear();
}

std::string SharedState::Problem() const {
  sync::MutexLock lock(&mu_);
  for (const auto& watcher : watchers_) {
    std::string problem = watcher->Problem();
    if (problem.empty()) continue;
    if (!absl::StartsWith(problem, "store_unavailable")) {
      problem = absl::StrCat("store_unavailable: ", problem);
    }
    return problem;
  }
  return "";
}

std::map<std::pair<std::string, std::string>, uint64_t> SharedState::TlsFailures() const {
  std::map<std::pair<std::string, std::string>, uint64_t> out;
  if (tls_ == nullptr) return out;
  for (size_t i = 0; i < tls_->size(); ++i) {
    for (const auto& [reason, count] : tls_->at(i).Failures()) {
      out[{tls_->at(i).endpoint(), reason}] = count;
    }
  }
  return out;
}

}  // namespace palisade::control::server
