#include "tests/util/etcd_cluster.h"

#include <signal.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/util/loopback.h"

namespace palisade::testing {

absl::StatusOr<std::unique_ptr<EtcdCluster>> EtcdCluster::Start(const std::string& dir, int members,
                                                                const EtcdTlsFiles* tls,
                                                                bool relayed_peers) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", error.message()));
  // A port picked free can be taken by another test before etcd binds it
  // (tests run in parallel): then the cluster never gets healthy, and it is
  // started again on other ports and data directories.
  absl::Status last;
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::unique_ptr<EtcdCluster> cluster(new EtcdCluster());
    cluster->dir_ = absl::StrCat(dir, "/try", attempt);
    if (tls != nullptr) cluster->tls_ = *tls;
    std::filesystem::create_directories(cluster->dir_, error);
    std::set<uint16_t> taken;
    auto pick = [&taken] {
      for (;;) {
        const uint16_t port = PickFreeLoopbackPort();
        if (taken.insert(port).second) return port;
      }
    };
    std::vector<std::string> peers;
    for (int i = 0; i < members; ++i) {
      Member m;
      m.name = absl::StrCat("etcd", i);
      m.client_port = pick();
      m.peer_port = pick();
      if (tls != nullptr) m.metrics_port = pick();
      m.data_dir = absl::StrCat(cluster->dir_, "/", m.name, ".data");
      cluster->members_.push_back(std::move(m));
    }
    {
      sync::MutexLock lock(&cluster->mu_);
      cluster->pids_.assign(members, 0);
    }
    for (int i = 0; i < members && relayed_peers; ++i) {
      EtcdCluster* c = cluster.get();
      // The relay's port comes from the kernel; it may not be one picked
      // above for a member that has not bound it yet (bounded retries).
      for (int tries = 0; tries < 10; ++tries) {
        absl::StatusOr<std::unique_ptr<TcpRelay>> relay = TcpRelay::Start(
            cluster->members_[i].peer_port,
            [c, i](uint16_t source_port) { return c->RefusePeerConnection(i, source_port); });
        if (!relay.ok()) return relay.status();
        if (taken.insert((*relay)->port()).second) {
          cluster->members_[i].relay = *std::move(relay);
          break;
        }
      }
      if (cluster->members_[i].relay == nullptr) {
        return absl::InternalError("no relay port distinct from the members' ports");
      }
    }
    for (const Member& m : cluster->members_) {
      peers.push_back(absl::StrCat(m.name, "=", cluster->PeerUrl(m)));
    }
    cluster->initial_cluster_ = absl::StrJoin(peers, ",");
    last = absl::OkStatus();
    for (int i = 0; i < members && last.ok(); ++i) last = cluster->StartMember(i, "new");
    if (last.ok()) last = cluster->WaitHealthy(absl::Seconds(15));
    if (last.ok()) return cluster;
  }
  return last;
}

EtcdCluster::~EtcdCluster() {
  // The relays first: their threads ask this object's rule.
  for (Member& m : members_) m.relay.reset();
  for (Member& m : members_) {
    if (m.process == nullptr) continue;
    m.process->Signal(SIGCONT);  // a paused member would not see SIGTERM
    m.process->Stop(absl::Seconds(5));
    (void)m.process->CheckExit();  // etcd's exit status on SIGTERM is not ours to judge
  }
  // Each member preallocates a 64 MB write-ahead log; Bazel may keep a
  // finished test's sandbox, so the data goes with the cluster (logs stay).
  for (const Member& m : members_) {
    std::error_code ignored;
    std::filesystem::remove_all(m.data_dir, ignored);
  }
}

absl::Status EtcdCluster::StartMember(int i, const std::string& state) {
  Member& m = members_[i];
  const std::string client = absl::StrCat(tls_ ? "https" : "http", "://127.0.0.1:", m.client_port);
  const std::string peer = absl::StrCat("http://127.0.0.1:", m.peer_port);
  // Listens on its own peer port; tells the others the relay's, if any.
  const std::string advertised_peer = PeerUrl(m);
  // Short heartbeats and elections: a lost member or leader is replaced in
  // about a second. The quota keeps the backend file small.
  std::vector<std::string> argv = {"/usr/bin/etcd",
                                   "--name=" + m.name,
                                   "--data-dir=" + m.data_dir,
                                   "--listen-client-urls=" + client,
                                   "--advertise-client-urls=" + client,
                                   "--listen-peer-urls=" + peer,
                                   "--initial-advertise-peer-urls=" + advertised_peer,
                                   "--initial-cluster=" + initial_cluster_,
                                   "--initial-cluster-state=" + state,
                                   "--initial-cluster-token=palisade-test",
                                   "--heartbeat-interval=50",
                                   "--election-timeout=500",
                                   "--quota-backend-bytes=67108864",
                                   "--snapshot-count=10000",
                                   "--log-level=warn",
                                   "--logger=zap"};
  if (tls_) {
    argv.insert(argv.end(),
                {"--cert-file=" + tls_->cert_file, "--key-file=" + tls_->key_file,
                 "--trusted-ca-file=" + tls_->trusted_ca_file,
                 absl::StrCat("--client-cert-auth=", tls_->client_cert_auth ? "true" : "false"),
                 absl::StrCat("--listen-metrics-urls=http://127.0.0.1:", m.metrics_port)});
  }
  absl::StatusOr<std::unique_ptr<Process>> process =
      Process::Start(argv, absl::StrCat(dir_, "/", m.name, ".log"));
  if (!process.ok()) return process.status();
  m.process = *std::move(process);
  {
    sync::MutexLock lock(&mu_);
    pids_[i] = m.process->pid();
  }
  // etcd ends with status 0 on SIGTERM but the test does not depend on it.
  return absl::OkStatus();
}

void EtcdCluster::KillMember(int i) {
  Member& m = members_[i];
  if (m.process == nullptr) return;
  {
    sync::MutexLock lock(&mu_);
    pids_[i] = 0;
  }
  m.process->Kill();
  (void)m.process->CheckExit();
  m.process.reset();
}

std::string EtcdCluster::PeerUrl(const Member& m) const {
  return absl::StrCat("http://127.0.0.1:", m.relay != nullptr ? m.relay->port() : m.peer_port);
}

bool EtcdCluster::RefusePeerConnection(int to, uint16_t source_port) {
  sync::MutexLock lock(&mu_);
  if (partitioned_.empty()) return false;
  if (partitioned_.count(to) > 0) return true;
  // A connection to a member that is not cut off: refused when a cut-off
  // member opened it (the client end is one of its sockets).
  std::vector<pid_t> cut;
  for (int i : partitioned_) {
    if (pids_[i] > 0) cut.push_back(pids_[i]);
  }
  return LoopbackClientOwner(source_port, members_[to].relay->port(), cut) > 0;
}

void EtcdCluster::CutLinks() {
  for (Member& m : members_) {
    if (m.relay != nullptr) m.relay->Recheck();
  }
}

void EtcdCluster::PartitionMember(int i) {
  {
    sync::MutexLock lock(&mu_);
    partitioned_.insert(i);
  }
  CutLinks();
}

void EtcdCluster::HealMember(int i) {
  sync::MutexLock lock(&mu_);
  partitioned_.erase(i);
}

void EtcdCluster::PauseMember(int i) {
  if (members_[i].process != nullptr) members_[i].process->Signal(SIGSTOP);
}

void EtcdCluster::ResumeMember(int i) {
  if (members_[i].process != nullptr) members_[i].process->Signal(SIGCONT);
}

absl::Status EtcdCluster::RestartMember(int i) {
  if (members_[i].process != nullptr) return absl::OkStatus();
  return StartMember(i, "existing");
}

absl::Status EtcdCluster::WaitHealthy(absl::Duration timeout) {
  const bool healthy = WaitFor(
      [&] {
        for (const Member& m : members_) {
          if (m.process == nullptr) continue;
          const HttpResult r = HttpGet(
              absl::StrCat("http://127.0.0.1:", tls_ ? m.metrics_port : m.client_port, "/health"));
          if (r.status != 200 || !absl::StrContains(r.body, "\"true\"")) return false;
        }
        return true;
      },
      timeout, absl::Milliseconds(100));
  if (healthy) return absl::OkStatus();
  std::string logs;
  for (const Member& m : members_) {
    absl::StrAppend(&logs, "\n--- ", m.name, ":\n", ReadFileOrEmpty(dir_ + "/" + m.name + ".log"));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("etcd members not healthy within ", absl::FormatDuration(timeout), logs));
}

std::string EtcdCluster::Endpoints() const {
  std::vector<std::string> out;
  for (const Member& m : members_) out.push_back(absl::StrCat("127.0.0.1:", m.client_port));
  return absl::StrJoin(out, ",");
}

CommandResult EtcdCluster::Etcdctl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"/usr/bin/env", "ETCDCTL_API=3", "/usr/bin/etcdctl",
                                   "--endpoints=" + Endpoints(), "--command-timeout=3s"};
  if (tls_) {
    argv.insert(argv.end(), {"--cacert=" + tls_->server_ca_file});
    if (!tls_->client_cert_file.empty()) {
      argv.insert(argv.end(),
                  {"--cert=" + tls_->client_cert_file, "--key=" + tls_->client_key_file});
    }
  }
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, absl::Seconds(15));
}

std::optional<int> EtcdCluster::LeaderIndex() const {
  const CommandResult r = Etcdctl({"endpoint", "status", "--write-out=json"});
  // stderr is interleaved (a member down is a warning line): the JSON array.
  const size_t begin = r.output.find('['), end = r.output.rfind(']');
  if (begin == std::string::npos || end == std::string::npos || end < begin) return std::nullopt;
  const nlohmann::json status =
      nlohmann::json::parse(r.output.substr(begin, end - begin + 1), nullptr, false);
  if (!status.is_array()) return std::nullopt;
  for (const nlohmann::json& entry : status) {
    const nlohmann::json& s = entry.value("Status", nlohmann::json::object());
    if (!s.contains("leader") || !s.contains("header")) continue;
    if (s["leader"] != s["header"].value("member_id", nlohmann::json())) continue;
    const std::string endpoint = entry.value("Endpoint", "");
    for (size_t i = 0; i < members_.size(); ++i) {
      if (endpoint == absl::StrCat("127.0.0.1:", members_[i].client_port))
        return static_cast<int>(i);
    }
  }
  return std::nullopt;
}

}  // namespace palisade::testing
