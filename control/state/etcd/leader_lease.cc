#include "control/state/etcd/leader_lease.h"

#include <unistd.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "runtime/log/logging.h"

namespace palisade::control::state::etcd {
namespace {

bool IdChar(char c) { return absl::ascii_isalnum(c) || c == '.' || c == '_' || c == '-'; }

}  // namespace

absl::Status CheckLeaderLeaseTtl(absl::Duration ttl) {
  if (ttl < absl::Seconds(2) || ttl > absl::Minutes(5) ||
      ttl != absl::Trunc(ttl, absl::Seconds(1))) {
    return absl::InvalidArgumentError(
        absl::StrCat("--leader_lease_ttl: ", absl::FormatDuration(ttl),
                     " must be whole seconds from 2s to 5m (etcd leases count in seconds)"));
  }
  return absl::OkStatus();
}

absl::Status CheckReplicaId(const std::string& id) {
  if (id.empty() || id.size() > 128 || !std::all_of(id.begin(), id.end(), IdChar)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--replica_id: \"", id, "\" must be 1 to 128 characters of A-Z a-z 0-9 . _ -"));
  }
  return absl::OkStatus();
}

std::string DefaultReplicaId() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  std::string id;
  for (const char* p = host; *p != '\0' && id.size() < 100; ++p)
    id.push_back(IdChar(*p) ? *p : '_');
  if (id.empty()) id = "palisade-control";
  return absl::StrCat(id, "-", getpid());
}

LeaderLease::LeaderLease(std::unique_ptr<EtcdClient> client, LeaderLeaseOptions options)
    : client_(std::move(client)), options_(std::move(options)) {}

LeaderLease::~LeaderLease() { Stop(/*resign=*/true); }

void LeaderLease::Start() {
  thread_ = std::thread([this] { Run(); });
}

void LeaderLease::Stop(bool resign) {
  if (stopped_) return;
  stopped_ = true;
  stop_.Notify();
  if (thread_.joinable()) thread_.join();
  int64_t lease = 0;
  {
    sync::MutexLock lock(&mu_);
    lease = lease_id_;
    lease_id_ = 0;
  }
  const bool was_leader = IsLeader();
  SetRole(false, "");
  if (!resign || lease == 0) return;
  // The key and every record attached go with the lease: another contender
  // leads within one poll instead of one TTL.
  if (absl::Status s = client_->RevokeLease(lease); !s.ok()) {
    log::LogEvent(log::Level::kWarn, "control", "cannot resign leadership; the lease will expire",
                  {{"key", options_.key}, {"error", std::string(s.message())}});
  } else if (was_leader) {
    log::LogEvent(log::Level::kInfo, "control", "leadership resigned",
                  {{"key", options_.key}, {"replica_id", options_.replica_id}});
  }
}

bool LeaderLease::IsLeader() const {
  sync::MutexLock lock(&mu_);
  return leader_ && absl::Now() < lease_confirmed_ + options_.ttl;
}

std::string LeaderLease::Leader() const {
  sync::MutexLock lock(&mu_);
  return leader_id_;
}

uint64_t LeaderLease::changes() const {
  sync::MutexLock lock(&mu_);
  return changes_;
}

int64_t LeaderLease::lease_id() const {
  sync::MutexLock lock(&mu_);
  return lease_id_;
}

absl::Status LeaderLease::PutAttached(const std::string& key, const std::string& value) {
  const int64_t lease = lease_id();
  if (lease == 0) return absl::FailedPreconditionError("no etcd lease held yet");
  return client_->PutWithLease(key, value, lease, /*only_if_absent=*/false).status();
}

absl::StatusOr<bool> LeaderLease::CreateAttached(const std::string& key, const std::string& value) {
  const int64_t lease = lease_id();
  if (lease == 0) return absl::FailedPreconditionError("no etcd lease held yet");
  return client_->PutWithLease(key, value, lease, /*only_if_absent=*/true);
}

absl::StatusOr<bool> LeaderLease::RewriteAttached(const std::string& key,
                                                  const std::string& value) {
  const int64_t lease = lease_id();
  if (lease == 0) return absl::FailedPreconditionError("no etcd lease held yet");
  return client_->PutWithLeaseIfOurs(key, value, lease);
}

std::optional<Fence> LeaderLease::LeaderFence() const {
  sync::MutexLock lock(&mu_);
  if (!leader_ || absl::Now() >= lease_confirmed_ + options_.ttl || lease_id_ == 0) {
    return std::nullopt;
  }
  return Fence{options_.key, options_.replica_id, lease_id_};
}

absl::StatusOr<bool> LeaderLease::PutIfLeading(const std::string& key, const std::string& value,
                                               int64_t expected, int64_t* revision) {
  const std::optional<Fence> fence = LeaderFence();
  if (!fence.has_value()) return false;
  return client_->PutIf(key, value, expected, revision, &*fence);
}

void LeaderLease::SetRole(bool leader, const std::string& leader_id) {
  bool changed;
  {
    sync::MutexLock lock(&mu_);
    changed = leader != leader_;
    if (changed) ++changes_;
    leader_ = leader;
    leader_id_ = leader_id;
  }
  if (!changed) return;
  log::LogEvent(
      log::Level::kInfo, "control", leader ? "became leader" : "no longer leader",
      {{"key", options_.key}, {"replica_id", options_.replica_id}, {"leader", leader_id}});
}

void LeaderLease::Run() {
  const absl::Duration poll = options_.poll > absl::ZeroDuration()
                                  ? options_.poll
                                  : std::min(absl::Seconds(1), options_.ttl / 3);
  while (!stop_.HasBeenNotified()) {
    Step(absl::Now());
    stop_.WaitForNotificationWithTimeout(poll);
  }
}

void LeaderLease::Step(absl::Time now) {
  int64_t lease;
  absl::Time confirmed;
  std::string leader_id;
  {
    sync::MutexLock lock(&mu_);
    lease = lease_id_;
    confirmed = lease_confirmed_;
    leader_id = leader_id_;
  }
  if (lease == 0) {
    absl::StatusOr<int64_t> granted = client_->GrantLease(options_.ttl);
    if (!granted.ok()) {
      SetRole(false, leader_id);
      return;
    }
    lease = *granted;
    confirmed = now;
    last_keepalive_ = now;
    sync::MutexLock lock(&mu_);
    lease_id_ = lease;
    lease_confirmed_ = now;
  } else if (now - last_keepalive_ >= options_.ttl / 3) {
    absl::Status kept = client_->KeepAliveOnce(lease);
    if (kept.ok()) {
      last_keepalive_ = now;
      confirmed = now;
      sync::MutexLock lock(&mu_);
      lease_confirmed_ = now;
    } else if (absl::IsNotFound(kept)) {
      // Expired at etcd (we were cut off longer than the TTL): the key went
      // with it. A new lease and a new campaign on the next step.
      log::LogEvent(log::Level::kWarn, "control", "etcd lease lost; campaigning again",
                    {{"key", options_.key}, {"error", std::string(kept.message())}});
      {
        sync::MutexLock lock(&mu_);
        lease_id_ = 0;
      }
      SetRole(false, "");
      return;
    }
    // Otherwise etcd is unreachable: we stop leading once the lease may
    // have expired (below), and keep trying.
  }
  absl::StatusOr<std::optional<KeyValue>> current = client_->Get(options_.key);
  if (current.ok() && !current->has_value()) {
    // Nobody leads: campaign. Losing the race (or a lost answer) is settled
    // by reading the key again.
    (void)client_->PutWithLease(options_.key, options_.replica_id, lease, /*only_if_absent=*/true);
    current = client_->Get(options_.key);
  }
  bool ours;
  {
    sync::MutexLock lock(&mu_);
    ours = leader_;  // unknown: as before
  }
  if (current.ok()) {
    ours = current->has_value() && (*current)->lease == lease;
    leader_id = current->has_value() ? (*current)->value : "";
  }
  // Without an answer we keep leading only while the lease surely lives.
  SetRole(ours && absl::Now() < confirmed + options_.ttl, leader_id);
}

}  // namespace palisade::control::state::etcd
