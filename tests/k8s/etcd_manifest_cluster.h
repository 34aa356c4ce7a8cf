// deploy/kubernetes/etcd.yaml's StatefulSet run for real on loopback: one
// etcd-server per replica with exactly the container's args, only moved:
// $(POD_NAME) expanded, the members' DNS names and 0.0.0.0 mapped to loopback
// ports, paths to folders laid out as the pod's volumes (a Secret volume
// filled from the folder of make-certs.sh named after the Secret, 0440 as
// fsGroup leaves it). Ready when every member's readinessProbe answers.
#ifndef PALISADE_TESTS_K8S_ETCD_MANIFEST_CLUSTER_H_
#define PALISADE_TESTS_K8S_ETCD_MANIFEST_CLUSTER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/util/process.h"

namespace palisade::testing {

class EtcdManifestCluster {
 public:
  // `secrets`: a folder holding one folder per Secret name (make-certs.sh's
  // output folder). Members' folders and logs go under `dir`.
  static absl::StatusOr<std::unique_ptr<EtcdManifestCluster>> Start(const std::string& manifest,
                                                                    const std::string& secrets,
                                                                    const std::string& dir);
  ~EtcdManifestCluster();

  // Every member address in `text` as the manifests write it (its pod DNS
  // name and a container port, "HOST:PORT") -> "127.0.0.1:P".
  std::string MapAddresses(const std::string& text) const;
  // Member i's address for container port `port` (2379: clients, 2380: peers).
  std::string Address(int i, int port) const;
  int size() const { return static_cast<int>(members_.size()); }
  // The args member i runs with, for messages.
  const std::vector<std::string>& argv(int i) const { return members_[i].argv; }

 private:
  struct Member {
    std::string pod;                             // palisade-etcd-N
    std::map<int, uint16_t> ports;               // container port -> loopback port
    std::map<std::string, std::string> volumes;  // volume name -> folder
    std::vector<std::string> argv;
    std::unique_ptr<Process> process;
  };
  EtcdManifestCluster() = default;
  absl::Status StartMembers(const std::string& manifest, const std::string& secrets,
                            const std::string& dir);
  std::string Dns(const Member& m) const { return m.pod + "." + subdomain_; }

  std::string subdomain_;  // palisade-etcd.palisade.svc
  std::vector<Member> members_;
};

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_K8S_ETCD_MANIFEST_CLUSTER_H_
