#include "control/state/etcd/prefix_watcher.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/log/logging.h"

namespace palisade::control::state::etcd {

PrefixWatcher::PrefixWatcher(std::unique_ptr<EtcdClient> client, std::string prefix,
                             OnState on_state, absl::Duration retry, absl::Duration grace)
    : client_(std::move(client)),
      prefix_(std::move(prefix)),
      on_state_(std::move(on_state)),
      retry_(retry),
      grace_(grace) {}

PrefixWatcher::~PrefixWatcher() {
  stop_.Notify();
  client_->Cancel();
  if (thread_.joinable()) thread_.join();
}

void PrefixWatcher::Start() {
  thread_ = std::thread([this] { Run(); });
}

std::string PrefixWatcher::Problem() const {
  sync::MutexLock lock(&mu_);
  if (problem_.empty() || absl::Now() - problem_since_ >= grace_) return problem_;
  return "";
}

void PrefixWatcher::SetProblem(const std::string& problem) {
  std::string before;
  {
    sync::MutexLock lock(&mu_);
    before = problem_;
    problem_ = problem;
    if (before.empty() && !problem.empty()) problem_since_ = absl::Now();
  }
  if (before.empty() == problem.empty()) return;  // log changes of state only
  if (problem.empty()) {
    log::LogEvent(log::Level::kInfo, "control", "etcd watch established", {{"prefix", prefix_}});
  } else {
    log::LogEvent(log::Level::kWarn, "control", "etcd watch lost; retrying",
                  {{"prefix", prefix_}, {"error", problem}});
  }
}

void PrefixWatcher::Run() {
  while (!stop_.HasBeenNotified()) {
    int64_t revision = 0;
    absl::StatusOr<std::vector<KeyValue>> listed = client_->List(prefix_, &revision);
    if (!listed.ok()) {
      SetProblem(std::string(listed.status().message()));
      stop_.WaitForNotificationWithTimeout(retry_);
      continue;
    }
    std::map<std::string, KeyValue> mirror;
    for (KeyValue& kv : *listed) mirror[kv.key] = std::move(kv);
    auto deliver = [&](int64_t at) {
      std::vector<StoredRecord> records;
      for (const auto& [key, kv] : mirror) records.push_back({key, kv.value, kv.mod_revision});
      on_state_(records, at);
    };
    deliver(revision);
    absl::Status ended = client_->Watch(
        prefix_, revision + 1, [this] { SetProblem(""); },
        [&](const std::vector<WatchEvent>& events, int64_t at) {
          for (const WatchEvent& e : events) {
            if (e.deleted) {
              mirror.erase(e.kv.key);
            } else {
              mirror[e.kv.key] = e.kv;
            }
          }
          deliver(at);
        });
    if (stop_.HasBeenNotified() || absl::IsCancelled(ended)) return;
    bool was_watching;
    {
      sync::MutexLock lock(&mu_);
      was_watching = problem_.empty();
    }
    SetProblem(std::string(ended.message()));
    // A watch that stood broke (its member died): list again on the next
    // member at once; the wait is for when no member answers.
    if (!was_watching) stop_.WaitForNotificationWithTimeout(retry_);
  }
}

}  // namespace palisade::control::state::etcd
