// A tiny contender for leader_lease_test: campaigns for --key with a lease
// of --ttl as --id and holds it until SIGTERM (resigns) or SIGKILL (its
// lease expires). Prints "leader" / "follower" when its role changes.
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/synchronization/notification.h"
#include "control/state/etcd/etcd_client.h"
#include "control/state/etcd/leader_lease.h"

ABSL_FLAG(std::string, endpoints, "", "etcd members, host:port,...");
ABSL_FLAG(std::string, key, "/leader", "the key to campaign for");
ABSL_FLAG(std::string, id, "contender", "the replica id");
ABSL_FLAG(absl::Duration, ttl, absl::Seconds(3), "the lease TTL");

namespace {
volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }
}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  namespace etcd = palisade::control::state::etcd;
  absl::StatusOr<std::vector<std::string>> endpoints =
      etcd::ParseEndpoints(absl::GetFlag(FLAGS_endpoints));
  if (!endpoints.ok()) {
    std::fprintf(stderr, "%s\n", std::string(endpoints.status().message()).c_str());
    return 2;
  }
  absl::StatusOr<std::unique_ptr<etcd::EtcdClient>> client =
      etcd::EtcdClient::Create({*endpoints, absl::Seconds(2)});
  if (!client.ok()) return 1;
  etcd::LeaderLease lease(*std::move(client), {absl::GetFlag(FLAGS_key), absl::GetFlag(FLAGS_id),
                                               absl::GetFlag(FLAGS_ttl), absl::ZeroDuration()});
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  lease.Start();
  bool leader = false;
  std::printf("follower\n");
  std::fflush(stdout);
  while (g_stop == 0) {
    if (lease.IsLeader() != leader) {
      leader = !leader;
      std::printf("%s\n", leader ? "leader" : "follower");
      std::fflush(stdout);
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  lease.Stop(/*resign=*/true);
  return 0;
}
