// TLS to etcd through the project's own BoringSSL, since gRPC's TLS cannot
// run in this process (CONSTRAINTS.md §2). gRPC keeps speaking plaintext
// HTTP/2, to a unix socket in a private directory (mode 0700, made by
// mkdtemp; the peer's uid is checked too), and every connection accepted
// there is carried to one etcd member over TLS (etcd_tls_config.h): etcd's
// server certificate must chain to --etcd_ca_file and name the member's host
// (IP SAN for an IP literal, DNS SAN otherwise, or --etcd_server_name).
// One bridge per endpoint, so the client's failover between members is
// unchanged. A failure (wrong CA, name mismatch, client certificate refused,
// connect) closes the gRPC side, is counted by reason, logged once per change
// of reason, and kept as LastFailure() for the client's error messages (and
// so for /ready) until a connection carries etcd's bytes again.
#ifndef PALISADE_CONTROL_STATE_ETCD_ETCD_TLS_BRIDGE_H_
#define PALISADE_CONTROL_STATE_ETCD_ETCD_TLS_BRIDGE_H_

#include <atomic>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "control/state/etcd/etcd_tls_config.h"
#include "runtime/net/unique_fd.h"
#include "runtime/sync/mutex.h"

namespace palisade::control::state::etcd {

// Reasons of TLS failures to etcd, as counted.
inline constexpr char kEtcdTlsConnect[] = "connect";
inline constexpr char kEtcdTlsUntrustedServer[] = "untrusted_server_certificate";
inline constexpr char kEtcdTlsNameMismatch[] = "server_name_mismatch";
inline constexpr char kEtcdTlsClientCertificateRefused[] = "client_certificate_refused";
inline constexpr char kEtcdTlsHandshake[] = "handshake";
inline constexpr char kEtcdTlsTimeout[] = "timeout";
inline constexpr const char* kEtcdTlsReasons[] = {
    kEtcdTlsConnect,      kEtcdTlsUntrustedServer,
    kEtcdTlsNameMismatch, kEtcdTlsClientCertificateRefused,
    kEtcdTlsHandshake,    kEtcdTlsTimeout};

class EtcdTlsBridge {
 public:
  // Listens at once; dials `endpoint` (host:port) for each connection.
  static absl::StatusOr<std::unique_ptr<EtcdTlsBridge>> Start(
      std::shared_ptr<const EtcdTlsConfig> config, const std::string& endpoint);
  // Closes the listener and every connection, and waits for their threads.
  ~EtcdTlsBridge();
  EtcdTlsBridge(const EtcdTlsBridge&) = delete;
  EtcdTlsBridge& operator=(const EtcdTlsBridge&) = delete;

  // What gRPC dials: "unix:/tmp/palisade-etcd-XXXXXX/etcd.sock".
  std::string target() const { return "unix:" + socket_path_; }
  const std::string& endpoint() const { return endpoint_; }
  // "" once a connection carried etcd's bytes; else why the last one failed:
  // "TLS to etcd 127.0.0.1:2379 failed (server_name_mismatch): ...".
  std::string LastFailure() const;
  // Failures since start, by reason (every one of kEtcdTlsReasons, from 0).
  std::map<std::string, uint64_t> Failures() const;

 private:
  struct Connection {
    std::thread thread;
    std::atomic<bool> done{false};
  };
  EtcdTlsBridge(std::shared_ptr<const EtcdTlsConfig> config, std::string endpoint);
  void AcceptLoop();
  void Serve(net::UniqueFd local, Connection* connection);
  void OnFailure(const char* reason, const std::string& detail);
  void OnCarried();
  // Joins the threads of connections that ended.
  void Reap() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::shared_ptr<const EtcdTlsConfig> config_;
  const std::string endpoint_;
  std::string host_;
  std::string port_;
  std::string dir_;
  std::string socket_path_;
  net::UniqueFd listener_;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  mutable sync::Mutex mu_;
  std::list<Connection> connections_ ABSL_GUARDED_BY(mu_);
  std::string last_failure_ ABSL_GUARDED_BY(mu_);
  std::string last_logged_reason_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> failures_ ABSL_GUARDED_BY(mu_);
};

// One bridge per endpoint, in the endpoints' order; shared by every client
// of the same store (their options hold it).
class EtcdTlsBridges {
 public:
  static absl::StatusOr<std::shared_ptr<EtcdTlsBridges>> Start(
      std::shared_ptr<const EtcdTlsConfig> config, const std::vector<std::string>& endpoints);
  size_t size() const { return bridges_.size(); }
  const EtcdTlsBridge& at(size_t i) const { return *bridges_[i]; }

 private:
  std::vector<std::unique_ptr<EtcdTlsBridge>> bridges_;
};

}  // namespace palisade::control::state::etcd

#endif  // PALISADE_CONTROL_STATE_ETCD_ETCD_TLS_BRIDGE_H_
