// A replica's rollover view as palisade-control publishes it under
// <prefix>replicas/<id> with --store=etcd (control/server/replica_coordination),
// written by tests that need a fleet the leader must wait on.
#ifndef PALISADE_TESTS_UTIL_REPLICA_VIEW_H_
#define PALISADE_TESTS_UTIL_REPLICA_VIEW_H_

#include <nlohmann/json.hpp>
#include <string>

#include "tests/util/etcd_cluster.h"

namespace palisade::testing {

// One proxy, `proxy_name`, that has acknowledged no bundle and holds no leaf:
// put under replicas/<replica_id>, it holds a leader's rollover in
// propagating (waiting_on names the proxy) until the key is deleted.
inline std::string NeverAcknowledgingReplicaView(const std::string& replica_id,
                                                 const std::string& proxy_name) {
  const nlohmann::json view = {{"replica_id", replica_id},
                               {"proxies",
                                {{{"name", proxy_name},
                                  {"acked_bundle_version", 0},
                                  {"leaf_root", ""},
                                  {"connections_by_root", nlohmann::json::object()}}}}};
  return view.dump();
}

// Puts such a view, for replica `replica_id` with one proxy named
// "<a SPIFFE ID> (<replica_id>-proxy)", under <prefix>replicas/<replica_id>.
// Returns its key, or "" when etcdctl failed.
inline std::string PutNeverAcknowledgingReplica(const EtcdCluster& etcd, const std::string& prefix,
                                                const std::string& replica_id) {
  const std::string key = prefix + "replicas/" + replica_id;
  const std::string view = NeverAcknowledgingReplicaView(
      replica_id, "spiffe://example.org/ns/a/sa/b (" + replica_id + "-proxy)");
  return etcd.Etcdctl({"put", key, view}).exit_code == 0 ? key : "";
}

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_UTIL_REPLICA_VIEW_H_
