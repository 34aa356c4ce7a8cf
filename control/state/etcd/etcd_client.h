// A client of etcd's v3 gRPC API (proto/etcd/v3) for palisade-control, to
// one or more members of one cluster. gRPC itself always runs plaintext,
// because gRPC's own TLS cannot run beside BoringSSL in this process
// (CONSTRAINTS.md §2): with TLS to etcd (--etcd_ca_file) each member is
// reached through the project's own BoringSSL in an in-process bridge
// (etcd_tls_bridge.h). Every call has a deadline; an error names the endpoint
// and key, and the bridge's TLS failure when there is one.
#ifndef PALISADE_CONTROL_STATE_ETCD_ETCD_CLIENT_H_
#define PALISADE_CONTROL_STATE_ETCD_ETCD_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "control/state/etcd/etcd_tls_bridge.h"
#include "runtime/sync/mutex.h"

namespace etcdserverpb {
class RequestOp;
class ResponseHeader;
class TxnRequest;
}  // namespace etcdserverpb

namespace palisade::control::state::etcd {

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t lease = 0;  // the lease it is attached to; 0 = none
};

struct WatchEvent {
  bool deleted = false;
  KeyValue kv;
};

// A leader's fence: a write carrying one is applied only while `key` holds
// `value` attached to lease `lease`, i.e. while the writer still leads (a
// leader paused past its lease cannot write after another took over).
struct Fence {
  std::string key;
  std::string value;
  int64_t lease = 0;
};

struct EtcdClientOptions {
  std::vector<std::string> endpoints;  // host:port
  absl::Duration call_timeout = absl::Seconds(2);
  // One attempt, on one member, of a one-key read (Get) or conditional
  // write (PutIf, DeleteIf): a read goes on to the next member, and a write
  // whose answer did not come is settled by reading the key back there. A
  // member cut off from its peers holds both until etcd's election timeout
  // (1 s by default) tells it it has no leader, and a revocation (a read,
  // then a write) must reach every proxy within 2 s. Lists keep call_timeout.
  absl::Duration key_attempt_timeout = absl::Seconds(1);
  // TLS: one bridge per endpoint, in the same order (null: plaintext).
  std::shared_ptr<const EtcdTlsBridges> tls;
};

// Thread-safe. Errors: UNAVAILABLE (message "store_unavailable: ...") when
// no member answered, naming the endpoints tried and the key.
class EtcdClient {
 public:
  static absl::StatusOr<std::unique_ptr<EtcdClient>> Create(const EtcdClientOptions& options);
  ~EtcdClient();

  // "etcd 127.0.0.1:2379,127.0.0.1:2479", for messages.
  std::string Describe() const;

  // The record at `key`, or nullopt.
  absl::StatusOr<std::optional<KeyValue>> Get(const std::string& key);
  // Every record under `prefix`, and the store revision they were read at.
  absl::StatusOr<std::vector<KeyValue>> List(const std::string& prefix,
                                             int64_t* revision = nullptr);
  // Writes `value` only if `key`'s mod revision is still `expected_mod_revision`
  // (0: only if absent), in one Txn. False when it changed meanwhile. On
  // success `*revision` is the revision of the write. A timed-out write is
  // settled by reading the key back (values must be unique per write).
  // With `fence`, only while the fence holds too (false otherwise).
  absl::StatusOr<bool> PutIf(const std::string& key, const std::string& value,
                             int64_t expected_mod_revision, int64_t* revision = nullptr,
                             const Fence* fence = nullptr);
  // Deletes `key` only if its mod revision is still `expected_mod_revision`.
  absl::StatusOr<bool> DeleteIf(const std::string& key, int64_t expected_mod_revision);

  // Leases (leader_lease.h). GrantLease rounds `ttl` to whole seconds (at
  // least 1). KeepAliveOnce: NotFound once the lease has expired or was
  // revoked. Revoking deletes every key attached to the lease.
  absl::StatusOr<int64_t> GrantLease(absl::Duration ttl);
  absl::Status KeepAliveOnce(int64_t lease_id);
  absl::Status RevokeLease(int64_t lease_id);
  // Writes `value` attached to `lease_id`: only if `key` is absent
  // (`only_if_absent`, a campaign: false when it exists), or whatever is
  // there (a record that must vanish with its writer). A lease that has
  // expired is NotFound.
  absl::StatusOr<bool> PutWithLease(const std::string& key, const std::string& value,
                                    int64_t lease_id, bool only_if_absent);
  // Rewrites `key` only if it is attached to `lease_id` already (written by
  // the holder of that lease): false when absent or another lease's.
  absl::StatusOr<bool> PutWithLeaseIfOurs(const std::string& key, const std::string& value,
                                          int64_t lease_id);

  // Watches `prefix` from `start_revision` until the stream fails or
  // `Cancel()`: `on_created` once the watch stands, then `on_events` with
  // every event received since its last call (a watch that is behind gets
  // its backlog in a few calls, not one per revision) and the revision of
  // the last of them. Blocks; returns why it ended
  // (Cancelled after Cancel()). Compaction past `start_revision` ends it with
  // OutOfRange (list again, then watch from there).
  absl::Status Watch(const std::string& prefix, int64_t start_revision,
                     const std::function<void()>& on_created,
                     const std::function<void(const std::vector<WatchEvent>&, int64_t)>& on_events);
  // Ends a Watch() in progress (and any later one) from another thread.
  void Cancel();

 private:
  struct Endpoint;
  explicit EtcdClient(const EtcdClientOptions& options);
  absl::Duration KeyAttemptTimeout() const;
  // Runs `call(endpoint)` on the current endpoint and, when it is UNAVAILABLE
  // (the request never reached a member that could serve it), on the next,
  // each once. Other errors are not retried: a write whose answer was lost
  // must not be applied twice.
  // Reads (`idempotent`) also move on when a member timed out. A member
  // that timed out is not the first one tried by the next call.
  absl::Status OnSomeEndpoint(const std::string& what, const std::string& key,
                              const std::function<absl::Status(Endpoint&)>& call,
                              bool idempotent = false);
  absl::StatusOr<bool> PutIfOnce(const std::string& key, const std::string& value,
                                 int64_t expected_mod_revision, int64_t* revision,
                                 const Fence* fence);
  absl::StatusOr<bool> DeleteIfOnce(const std::string& key, int64_t expected_mod_revision);
  // One Txn on some endpoint: `operation` fills the request op run only if
  // `key`'s mod revision is `expected_mod_revision` (0: the key is absent).
  absl::StatusOr<bool> TxnIfModRevision(
      const char* what, const std::string& key, int64_t expected_mod_revision,
      const std::function<void(etcdserverpb::RequestOp*)>& operation, int64_t* revision,
      const Fence* fence);
  // One Txn on some endpoint: the put of `key` under `lease_id`, run only
  // if `request`'s compares (the caller's) hold.
  absl::StatusOr<bool> LeasedPut(const std::string& key, const std::string& value, int64_t lease_id,
                                 etcdserverpb::TxnRequest* request);

  const EtcdClientOptions options_;
  std::vector<std::unique_ptr<Endpoint>> endpoints_;
  sync::Mutex mu_;
  size_t current_ ABSL_GUARDED_BY(mu_) = 0;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  void* watch_context_ ABSL_GUARDED_BY(mu_) = nullptr;  // grpc::ClientContext*
};

// Parses "host:port,host:port" (--etcd_endpoints); InvalidArgument naming
// the bad entry.
absl::StatusOr<std::vector<std::string>> ParseEndpoints(const std::string& flag);
// --etcd_prefix: must start and end with "/" (so two trust domains' prefixes
// never nest by accident). Checked at flag parsing, before any state is written.
absl::Status CheckPrefix(const std::string& prefix);

}  // namespace palisade::control::state::etcd

#endif  // PALISADE_CONTROL_STATE_ETCD_ETCD_CLIENT_H_
