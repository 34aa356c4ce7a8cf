#include "control/server/replica_coordination.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "runtime/log/logging.h"
#include "runtime/status/status_macros.h"

namespace palisade::control::server {
namespace {

constexpr char kReplicas[] = "replicas/";
constexpr char kRolloverKey[] = "rollover/status";

}  // namespace

nlohmann::json ReplicaViewToJson(const std::string& replica_id,
                                 const std::vector<ca::ProxyView>& proxies) {
  nlohmann::json list = nlohmann::json::array();
  for (const ca::ProxyView& p : proxies) {
    list.push_back({{"name", p.name},
                    {"acked_bundle_version", p.acked_bundle_version},
                    {"leaf_root", p.leaf_root_fingerprint},
                    {"connections_by_root", p.connections_by_root}});
  }
  return {{"replica_id", replica_id}, {"proxies", std::move(list)}};
}

absl::StatusOr<std::vector<ca::ProxyView>> ReplicaViewFromJson(const std::string& text) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("proxies") || !j["proxies"].is_array()) {
    return absl::InvalidArgumentError("not a replica view (JSON with a \"proxies\" list)");
  }
  std::vector<ca::ProxyView> out;
  try {
    for (const nlohmann::json& p : j["proxies"]) {
      ca::ProxyView view;
      view.name = p.at("name").get<std::string>();
      view.acked_bundle_version = p.value("acked_bundle_version", uint64_t{0});
      view.leaf_root_fingerprint = p.value("leaf_root", "");
      view.connections_by_root = p.value("connections_by_root", std::map<std::string, uint64_t>{});
      out.push_back(std::move(view));
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(e.what());
  }
  return out;
}

absl::StatusOr<std::unique_ptr<ReplicaCoordination>> ReplicaCoordination::Create(
    state::etcd::EtcdStore* store, const std::string& replica_id, absl::Duration lease_ttl) {
  RETURN_IF_ERROR(state::etcd::CheckReplicaId(replica_id));
  RETURN_IF_ERROR(state::etcd::CheckLeaderLeaseTtl(lease_ttl));
  ASSIGN_OR_RETURN(std::unique_ptr<state::etcd::EtcdClient> client, store->NewWatchClient());
  auto lease = std::make_unique<state::etcd::LeaderLease>(
      std::move(client), state::etcd::LeaderLeaseOptions{store->FullKey("leader"), replica_id,
                                                         lease_ttl, absl::ZeroDuration()});
  return std::unique_ptr<ReplicaCoordination>(
      new ReplicaCoordination(store, replica_id, lease_ttl, std::move(lease)));
}

ReplicaCoordination::~ReplicaCoordination() { Stop(); }

absl::StatusOr<bool> ReplicaCoordination::WriteOwnView(int64_t lease, const std::string& value) {
  const std::string key = store_->FullKey(absl::StrCat(kReplicas, replica_id_));
  if (lease == published_lease_) return lease_->RewriteAttached(key, value);
  ASSIGN_OR_RETURN(bool created, lease_->CreateAttached(key, value));
  if (created) return true;
  // A lost answer to our own create, or someone else's key.
  absl::StatusOr<std::optional<state::etcd::KeyValue>> kv = store_->client().Get(key);
  if (!kv.ok()) return kv.status();
  return kv->has_value() && (*kv)->lease == lease;
}

absl::Status ReplicaCoordination::Start(absl::Duration claim_wait) {
  lease_->Start();
  const std::string key = store_->FullKey(absl::StrCat(kReplicas, replica_id_));
  const absl::Time deadline = absl::Now() + claim_wait;
  bool waited = false;
  for (;;) {
    const int64_t lease = lease_->lease_id();
    absl::StatusOr<bool> claimed =
        lease == 0 ? absl::UnavailableError("no etcd lease granted yet")
                   : WriteOwnView(lease, ReplicaViewToJson(replica_id_, {}).dump());
    if (claimed.ok() && *claimed) {
      published_lease_ = lease;
      last_publish_ = absl::Now();
      if (waited) {
        log::LogEvent(log::Level::kInfo, "control",
                      "replica id claimed after its old lease expired",
                      {{"replica_id", replica_id_}, {"key", key}});
      }
      return absl::OkStatus();
    }
    if (absl::Now() >= deadline) {
      if (claimed.ok()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "--replica_id: \"", replica_id_, "\" is in use by a live replica (etcd key ", key,
            " held by another lease for ", absl::FormatDuration(claim_wait),
            "); give each replica its own id"));
      }
      // etcd cannot say: start anyway; the first publish claims the key.
      log::LogEvent(
          log::Level::kWarn, "control",
          "cannot claim the replica id in etcd yet; claiming on the first publish",
          {{"replica_id", replica_id_}, {"error", std::string(claimed.status().message())}});
      return absl::OkStatus();
    }
    if (claimed.ok() && !waited) {
      waited = true;
      log::LogEvent(
          log::Level::kWarn, "control",
          "replica id held by another lease; waiting for it to expire",
          {{"replica_id", replica_id_}, {"key", key}, {"wait", absl::FormatDuration(claim_wait)}});
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
}

std::string ReplicaCoordination::Problem() const {
  sync::MutexLock lock(&mu_);
  return id_problem_;
}

void ReplicaCoordination::Stop() { lease_->Stop(/*resign=*/true); }

nlohmann::json ReplicaCoordination::Json() const {
  return {{"replica_id", replica_id_},
          {"role", lease_->IsLeader() ? "leader" : "follower"},
          {"leader", lease_->Leader()},
          {"leader_changes", lease_->changes()},
          {"lease_ttl_seconds", absl::ToInt64Seconds(lease_ttl_)}};
}

void ReplicaCoordination::PublishIfDue(const std::vector<ca::ProxyView>& own, absl::Time now,
                                       absl::Duration every) {
  const int64_t lease = lease_->lease_id();
  if (lease == 0) return;  // not yet (or no longer) held: nothing to attach to
  // A new lease (the old one expired) has no view attached yet.
  if (lease == published_lease_ && now - last_publish_ < every) return;
  absl::StatusOr<bool> written = WriteOwnView(lease, ReplicaViewToJson(replica_id_, own).dump());
  absl::Status s = written.status();
  if (written.ok() && !*written) {
    // Our key under another lease: a duplicate replica id (ours expired
    // while etcd was away and another took it), or our own lease lost.
    s = absl::FailedPreconditionError(absl::StrCat(
        "replica_id_in_use: etcd key ", store_->FullKey(absl::StrCat(kReplicas, replica_id_)),
        " is held by another lease; --replica_id \"", replica_id_,
        "\" must be unique among live replicas"));
    published_lease_ = 0;  // claim again (create only if absent) next time
  }
  {
    sync::MutexLock lock(&mu_);
    id_problem_ = written.ok() && !*written ? std::string(s.message()) : "";
  }
  const std::string problem(s.message());
  if (problem != publish_problem_) {
    publish_problem_ = problem;
    if (!s.ok()) {
      log::LogEvent(log::Level::kWarn, "control", "cannot publish this replica's rollover view",
                    {{"replica_id", replica_id_}, {"error", problem}});
    }
  }
  if (!s.ok()) return;
  last_publish_ = now;
  published_lease_ = lease;
}

absl::StatusOr<std::vector<ca::ProxyView>> ReplicaCoordination::ClusterFleet(
    const std::vector<ca::ProxyView>& own) {
  int64_t revision = 0;
  ASSIGN_OR_RETURN(std::vector<state::StoredRecord> records, store_->List(kReplicas, &revision));
  std::vector<ca::ProxyView> out = own;
  const std::string self = store_->FullKey(absl::StrCat(kReplicas, replica_id_));
  for (const state::StoredRecord& r : records) {
    if (r.key == self) continue;  // ours, fresher in `own`
    absl::StatusOr<std::vector<ca::ProxyView>> view = ReplicaViewFromJson(r.value);
    if (!view.ok()) {
      return absl::DataLossError(
          absl::StrCat("store record \"", r.key, "\": ", view.status().message()));
    }
    for (ca::ProxyView& p : *view) out.push_back(std::move(p));
  }
  return out;
}

absl::StatusOr<StoredRollover> ReplicaCoordination::LoadRollover() {
  ASSIGN_OR_RETURN(std::optional<state::StoredRecord> record, store_->Get(kRolloverKey));
  StoredRollover out;
  if (!record.has_value()) return out;
  const nlohmann::json doc = nlohmann::json::parse(record->value, nullptr, false);
  absl::StatusOr<ca::RolloverStatus> status = doc.is_discarded()
                                                  ? absl::InvalidArgumentError("not valid JSON")
                                                  : ca::RolloverStatusFromJson(doc);
  if (!status.ok()) {
    return absl::DataLossError(
        absl::StrCat("store record \"", record->key, "\": ", status.status().message()));
  }
  out.status = *std::move(status);
  out.revision = record->revision;
  return out;
}

absl::StatusOr<bool> ReplicaCoordination::SaveRollover(const ca::RolloverStatus& status,
                                                       int64_t expected, int64_t* revision,
                                                       bool as_leader) {
  nlohmann::json doc = ca::RolloverStatusToJson(status);
  // Values must be unique per write (the client settles a lost answer by
  // reading back): the writer and a time make them so.
  doc["written_by"] = replica_id_;
  doc["written_at_ms"] = absl::ToUnixMillis(absl::Now());
  if (!as_leader) return store_->PutIf(kRolloverKey, doc.dump(), expected, revision);
  return lease_->PutIfLeading(store_->FullKey(kRolloverKey), doc.dump(), expected, revision);
}

}  // namespace palisade::control::server
