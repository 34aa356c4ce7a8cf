// A real etcd cluster for tests: `members` etcd-server processes on loopback,
// free ports, data directories under the test's temporary directory. It
// stops and kills only the processes it started. With `relayed_peers` the
// members' peer traffic goes through TCP relays the test controls, so one
// member can be cut off from the others while its clients still reach it.
#ifndef PALISADE_TESTS_UTIL_ETCD_CLUSTER_H_
#define PALISADE_TESTS_UTIL_ETCD_CLUSTER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/sync/mutex.h"
#include "tests/util/process.h"
#include "tests/util/subprocess.h"
#include "tests/util/tcp_relay.h"

namespace palisade::testing {

// Client-facing TLS for every member (peers stay plaintext on loopback).
struct EtcdTlsFiles {
  std::string cert_file;        // the members' serving certificate (PEM)
  std::string key_file;         // its key
  std::string trusted_ca_file;  // the CA of client certificates (--trusted-ca-file)
  bool client_cert_auth = true;
  // What Etcdctl() presents (it trusts `server_ca_file`).
  std::string server_ca_file;
  std::string client_cert_file;
  std::string client_key_file;
};

class EtcdCluster {
 public:
  // Starts the members and returns once every one reports healthy (bounded).
  // With `tls`, clients must speak TLS (health is read on a plaintext
  // metrics port). With `relayed_peers` each member advertises its peer URL
  // on a relay (127.0.0.1:R) that forwards to its real peer listener, for
  // PartitionMember(). Client ports are direct either way.
  static absl::StatusOr<std::unique_ptr<EtcdCluster>> Start(const std::string& dir, int members = 3,
                                                            const EtcdTlsFiles* tls = nullptr,
                                                            bool relayed_peers = false);
  ~EtcdCluster();

  // "127.0.0.1:P1,127.0.0.1:P2,..." (what --etcd_endpoints takes).
  std::string Endpoints() const;
  int size() const { return static_cast<int>(members_.size()); }
  bool running(int i) const { return members_[i].process != nullptr; }

  // kill -9 of member i (an abrupt loss).
  void KillMember(int i);
  // SIGSTOP / SIGCONT of member i: a member that hangs, its sockets still
  // open (accepting connections, answering nothing), as a stuck disk or a
  // half-dead host leaves it.
  void PauseMember(int i);
  void ResumeMember(int i);
  // A network partition of member i (needs `relayed_peers`): every peer
  // connection to or from it is closed, and new ones are refused, until
  // HealMember(i). It still answers its clients, without a leader.
  void PartitionMember(int i);
  void HealMember(int i);
  // Starts member i again on its data directory and ports.
  absl::Status RestartMember(int i);
  // Waits until every running member answers /health with true.
  absl::Status WaitHealthy(absl::Duration timeout = absl::Seconds(20));

  // etcdctl (API v3) against the running members.
  CommandResult Etcdctl(const std::vector<std::string>& args) const;
  // The index of the member that is raft leader, as the running members
  // report it; nullopt when they name none (or cannot be asked).
  std::optional<int> LeaderIndex() const;

 private:
  struct Member {
    std::string name;
    uint16_t client_port = 0;
    uint16_t peer_port = 0;
    uint16_t metrics_port = 0;  // with TLS: /health in plaintext
    std::string data_dir;
    std::unique_ptr<Process> process;
    std::unique_ptr<TcpRelay> relay;  // with relayed_peers
  };
  EtcdCluster() = default;
  absl::Status StartMember(int i, const std::string& state);
  std::string PeerUrl(const Member& m) const;
  // The rule of member `to`'s relay: refuse while either end is partitioned.
  bool RefusePeerConnection(int to, uint16_t source_port);
  void CutLinks();

  std::string dir_;
  std::string initial_cluster_;
  std::optional<EtcdTlsFiles> tls_;
  std::vector<Member> members_;
  sync::Mutex mu_;
  std::vector<pid_t> pids_ ABSL_GUARDED_BY(mu_);  // 0 when not running
  std::set<int> partitioned_ ABSL_GUARDED_BY(mu_);
};

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_UTIL_ETCD_CLUSTER_H_
