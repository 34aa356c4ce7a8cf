#include "control/state/etcd/etcd_client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "proto/etcd/v3/etcd_rpc.grpc.pb.h"
#include "runtime/status/status_macros.h"

namespace palisade::control::state::etcd {
namespace {

// Tries of a write whose outcome is unknown (deadline exceeded).
constexpr int kAmbiguousAttempts = 3;

// A watch on a member that hangs, or that is cut off from the cluster's
// leader, goes quiet without an error (keepalive pings find a hung member
// only after 7 s, and a cut-off one never). So the watched member is asked
// for a linearizable read this often, and the watch ends (the next goes to
// another member) once one is refused ("no leader") or not answered within
// kWatchProbeDeadline: a revocation must reach every replica within 2 s.
// A one-key read that slow means the member is of no use to a watch; moving
// the watch costs one list of the prefix on the next member.
constexpr absl::Duration kWatchProbeInterval = absl::Milliseconds(500);
constexpr absl::Duration kWatchProbeDeadline = absl::Seconds(1);
constexpr int kWatchProbeMisses = 1;
// etcd before 3.4.31 / 3.5.13 can drop a lagging watcher's events for good
// (etcd-io/etcd#17555): when a compaction comes while the watcher is behind
// and its send queue is full, etcd marks it caught up at the current
// revision, and the stream stays open with nothing more to send. So the
// probe also asks which keys under the prefix changed after the last event
// received; keys there while the reader has waited on the stream for this
// many probes in a row, without receiving anything, end the watch (the next
// lists the prefix again). It finds a lost put (a de-registration, a token,
// the CA), not a lost delete.
constexpr int kWatchProbesBehind = 3;

// How much a watch reads ahead of its callback before it stops reading.
constexpr size_t kMaxWatchBacklogBytes = 64 << 20;

// etcd's range end for "every key starting with prefix": the prefix with its
// last byte that is not 0xff incremented.
std::string PrefixEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) < 0xff) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

KeyValue FromProto(const etcdserverpb::KeyValue& kv) {
  return KeyValue{kv.key(), kv.value(), kv.create_revision(), kv.mod_revision(), kv.lease()};
}

// What a watch's reader thread has received and the caller's thread has not
// handed on yet. The caller takes all of it at once: a watch that is behind
// (its process was paused, its callback is slow) catches up in a few
// callbacks, not one per response (etcd sends one per revision), each of
// which may cost the caller the whole prefix. Not behind, a response is
// handed on as soon as it arrives.
class WatchBacklog {
 public:
  struct Taken {
    bool created = false;  // the watch stands (first response)
    std::vector<WatchEvent> events;
    // The revision the events bring the prefix to: the last event's. Not the
    // response header's, which is the store's current revision when etcd sent
    // it, also when a catch-up batch stops short of it.
    int64_t revision = 0;
    bool closed = false;  // the stream has ended and everything was taken
  };

  // Queues one response's events; waits first while more than
  // kMaxWatchBacklogBytes wait (then the stream's flow control holds etcd
  // back, as when nothing read ahead).
  void Add(bool created, std::vector<WatchEvent> events, size_t bytes) {
    sync::MutexLock lock(&mu_);
    mu_.Await([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return bytes_ < kMaxWatchBacklogBytes; });
    created_ = created_ || created;
    bytes_ += bytes;
    for (WatchEvent& event : events) {
      revision_ = std::max(revision_, event.kv.mod_revision);
      events_.push_back(std::move(event));
    }
    mu_.NotifyAll();
  }
  // The stream has ended: Take() returns what is left, then `closed`.
  void Close() {
    sync::MutexLock lock(&mu_);
    closed_ = true;
    mu_.NotifyAll();
  }
  // Waits for something to hand on, and takes all of it.
  Taken Take() {
    sync::MutexLock lock(&mu_);
    mu_.Await(
        [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return created_ || !events_.empty() || closed_; });
    Taken taken;
    taken.created = created_;
    taken.events.swap(events_);
    taken.revision = revision_;
    taken.closed = closed_ && !taken.created && taken.events.empty();
    created_ = false;
    bytes_ = 0;
    mu_.NotifyAll();
    return taken;
  }

 private:
  sync::Mutex mu_;
  bool created_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<WatchEvent> events_ ABSL_GUARDED_BY(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t revision_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

struct EtcdClient::Endpoint {
  std::string address;
  const EtcdTlsBridge* tls = nullptr;  // with TLS to etcd: its bridge
  // What a failure adds: the bridge's last TLS failure, if any.
  std::string TlsNote() const {
    if (tls == nullptr) return "";
    const std::string failure = tls->LastFailure();
    return failure.empty() ? "" : absl::StrCat(" [", failure, "]");
  }
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<etcdserverpb::KV::Stub> kv;
  std::unique_ptr<etcdserverpb::Watch::Stub> watch;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease;
};

absl::StatusOr<std::vector<std::string>> ParseEndpoints(const std::string& flag) {
  std::vector<std::string> out;
  for (absl::string_view raw : absl::StrSplit(flag, ',', absl::SkipWhitespace())) {
    absl::string_view entry = absl::StripAsciiWhitespace(raw);
    if (absl::ConsumePrefix(&entry, "http://")) {
      // Accepted as etcd writes it.
    } else if (absl::StartsWith(entry, "https://")) {
      // A scheme per endpoint would let one member go plaintext by a typo.
      return absl::InvalidArgumentError(
          absl::StrCat("--etcd_endpoints: \"", raw,
                       "\": give host:port; TLS to etcd is turned on by --etcd_ca_file"));
    }
    const size_t colon = entry.rfind(':');
    uint32_t port = 0;
    if (colon == absl::string_view::npos || colon == 0 ||
        !absl::SimpleAtoi(entry.substr(colon + 1), &port) || port == 0 || port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("--etcd_endpoints: \"", raw, "\" is not host:port"));
    }
    out.emplace_back(entry);
  }
  if (out.empty()) {
    return absl::InvalidArgumentError("--etcd_endpoints: is required with --store=etcd");
  }
  return out;
}

absl::Status CheckPrefix(const std::string& prefix) {
  if (!absl::StartsWith(prefix, "/") || !absl::EndsWith(prefix, "/")) {
    return absl::InvalidArgumentError(
        absl::StrCat("--etcd_prefix: \"", prefix, "\" must start and end with \"/\""));
  }
  return absl::OkStatus();
}

EtcdClient::EtcdClient(const EtcdClientOptions& options) : options_(options) {}
EtcdClient::~EtcdClient() = default;

absl::StatusOr<std::unique_ptr<EtcdClient>> EtcdClient::Create(const EtcdClientOptions& options) {
  if (options.endpoints.empty()) return absl::InvalidArgumentError("no etcd endpoint");
  if (options.call_timeout <= absl::ZeroDuration() ||
      options.key_attempt_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the etcd call and key-attempt timeouts must be positive");
  }
  if (options.tls != nullptr && options.tls->size() != options.endpoints.size()) {
    return absl::InvalidArgumentError("one etcd TLS bridge per endpoint");
  }
  std::unique_ptr<EtcdClient> client(new EtcdClient(options));
  for (size_t i = 0; i < options.endpoints.size(); ++i) {
    const std::string& address = options.endpoints[i];
    grpc::ChannelArguments args;
    // A member that comes back is used again within a second or two, not
    // after gRPC's default backoff of up to two minutes. The minimum is also
    // how long one connection attempt (TCP and HTTP/2 settings) may take, so
    // it stays at a second: 100 ms failed on a loaded machine.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 1000);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 5000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 2000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    auto endpoint = std::make_unique<Endpoint>();
    endpoint->address = address;
    // With TLS, plaintext only to our own bridge's private unix socket.
    if (options.tls != nullptr) endpoint->tls = &options.tls->at(i);
    const std::string target = endpoint->tls != nullptr ? endpoint->tls->target() : address;
    endpoint->channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
    endpoint->kv = etcdserverpb::KV::NewStub(endpoint->channel);
    endpoint->watch = etcdserverpb::Watch::NewStub(endpoint->channel);
    endpoint->lease = etcdserverpb::Lease::NewStub(endpoint->channel);
    client->endpoints_.push_back(std::move(endpoint));
  }
  return client;
}

absl::Duration EtcdClient::KeyAttemptTimeout() const {
  return std::min(options_.key_attempt_timeout, options_.call_timeout);
}

std::string EtcdClient::Describe() const {
  return absl::StrCat("etcd ", absl::StrJoin(options_.endpoints, ","));
}

absl::Status EtcdClient::OnSomeEndpoint(const std::string& what, const std::string& key,
                                        const std::function<absl::Status(Endpoint&)>& call,
                                        bool idempotent) {
  size_t first;
  {
    sync::MutexLock lock(&mu_);
    first = current_;
  }
  std::vector<std::string> errors;
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    const size_t index = (first + i) % endpoints_.size();
    Endpoint& endpoint = *endpoints_[index];
    absl::Status s = call(endpoint);
    if (s.ok()) {
      sync::MutexLock lock(&mu_);
      current_ = index;
      return s;
    }
    errors.push_back(absl::StrCat(endpoint.address, ": ", s.message(), endpoint.TlsNote()));
    // A read that timed out (a member waiting for a new leader) may do
    // better elsewhere; a write that timed out may have been applied.
    if (!absl::IsUnavailable(s) && !(idempotent && absl::IsDeadlineExceeded(s))) {
      if (absl::IsDeadlineExceeded(s)) {
        // The read that settles this write goes to another member.
        sync::MutexLock lock(&mu_);
        current_ = (index + 1) % endpoints_.size();
      }
      return absl::Status(
          s.code(), absl::StrCat("etcd ", what, " of key \"", key, "\" at ", endpoint.address, ": ",
                                 s.message(), endpoint.TlsNote()));
    }
  }
  return absl::UnavailableError(absl::StrCat("store_unavailable: etcd ", what, " of key \"", key,
                                             "\": no member answered (",
                                             absl::StrJoin(errors, "; "), ")"));
}

namespace {

// Every call has a deadline, and asks the member to refuse it at once when
// it has no leader (etcd answers UNAVAILABLE "no leader" before proposing
// anything, so a write refused so is safe to send to the next member). A
// member cut off from the others otherwise held writes for the whole
// deadline, now and then.
void PrepareCall(grpc::ClientContext* context, absl::Duration timeout) {
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  context->AddMetadata("hasleader", "true");
}

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  // "etcdserver: no leader" and friends come as UNAVAILABLE too: another
  // member may do better.
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

}  // namespace

absl::StatusOr<std::optional<KeyValue>> EtcdClient::Get(const std::string& key) {
  std::optional<KeyValue> out;
  RETURN_IF_ERROR(OnSomeEndpoint(
      "get", key,
      [&](Endpoint& e) {
        grpc::ClientContext context;
        PrepareCall(&context, KeyAttemptTimeout());
        etcdserverpb::RangeRequest request;
        request.set_key(key);
        etcdserverpb::RangeResponse response;
        absl::Status s = FromGrpc(e.kv->Range(&context, request, &response));
        if (s.ok() && response.kvs_size() > 0) out = FromProto(response.kvs(0));
        return s;
      },
      /*idempotent=*/true));
  return out;
}

absl::StatusOr<std::vector<KeyValue>> EtcdClient::List(const std::string& prefix,
                                                       int64_t* revision) {
  std::vector<KeyValue> out;
  RETURN_IF_ERROR(OnSomeEndpoint(
      "list", prefix,
      [&](Endpoint& e) {
        grpc::ClientContext context;
        PrepareCall(&context, options_.call_timeout);
        etcdserverpb::RangeRequest request;
        request.set_key(prefix);
        request.set_range_end(PrefixEnd(prefix));
        etcdserverpb::RangeResponse response;
        absl::Status s = FromGrpc(e.kv->Range(&context, request, &response));
        if (!s.ok()) return s;
        out.clear();
        for (const etcdserverpb::KeyValue& kv : response.kvs()) out.push_back(FromProto(kv));
        if (revision != nullptr) *revision = response.header().revision();
        return s;
      },
      /*idempotent=*/true));
  return out;
}

absl::StatusOr<bool> EtcdClient::PutIf(const std::string& key, const std::string& value,
                                       int64_t expected_mod_revision, int64_t* revision,
                                       const Fence* fence) {
  // A write whose answer was lost (a leader change, a member gone) is
  // decided by reading the key back: our value (values carry a write id, so
  // none is written twice the same) means it was applied; the expected
  // revision means it was not, and it is tried again; anything else means
  // someone else wrote first.
  absl::Status last;
  for (int attempt = 0; attempt < kAmbiguousAttempts; ++attempt) {
    absl::StatusOr<bool> put = PutIfOnce(key, value, expected_mod_revision, revision, fence);
    if (attempt > 0 && put.ok() && !*put) {
      // The attempt that timed out may have been applied after our read:
      // then the compare of this one fails on our own write.
      absl::StatusOr<std::optional<KeyValue>> now = Get(key);
      if (now.ok() && now->has_value() && (*now)->value == value) {
        if (revision != nullptr) *revision = (*now)->mod_revision;
        return true;
      }
    }
    if (put.ok() || !absl::IsDeadlineExceeded(put.status())) return put;
    last = put.status();
    absl::StatusOr<std::optional<KeyValue>> now = Get(key);
    if (!now.ok()) return now.status();
    const int64_t current = now->has_value() ? (*now)->mod_revision : 0;
    if (now->has_value() && (*now)->value == value) {
      if (revision != nullptr) *revision = current;
      return true;
    }
    if (current != expected_mod_revision) return false;
  }
  return last;
}

absl::StatusOr<bool> EtcdClient::TxnIfModRevision(
    const char* what, const std::string& key, int64_t expected_mod_revision,
    const std::function<void(etcdserverpb::RequestOp*)>& operation, int64_t* revision,
    const Fence* fence) {
  bool succeeded = false;
  RETURN_IF_ERROR(OnSomeEndpoint(what, key, [&](Endpoint& e) {
    grpc::ClientContext context;
    PrepareCall(&context, KeyAttemptTimeout());
    etcdserverpb::TxnRequest request;
    etcdserverpb::Compare* compare = request.add_compare();
    compare->set_key(key);
    compare->set_result(etcdserverpb::Compare::EQUAL);
    compare->set_target(etcdserverpb::Compare::MOD);
    compare->set_mod_revision(expected_mod_revision);  // 0 = the key does not exist
    if (fence != nullptr) {
      etcdserverpb::Compare* holds = request.add_compare();
      holds->set_key(fence->key);
      holds->set_result(etcdserverpb::Compare::EQUAL);
      holds->set_target(etcdserverpb::Compare::VALUE);
      holds->set_value(fence->value);
      etcdserverpb::Compare* leased = request.add_compare();
      leased->set_key(fence->key);
      leased->set_result(etcdserverpb::Compare::EQUAL);
      leased->set_target(etcdserverpb::Compare::LEASE);
      leased->set_lease(fence->lease);
    }
    operation(request.add_success());
    etcdserverpb::TxnResponse response;
    absl::Status s = FromGrpc(e.kv->Txn(&context, request, &response));
    succeeded = s.ok() && response.succeeded();
    if (revision != nullptr) *revision = response.header().revision();
    return s;
  }));
  return succeeded;
}

absl::StatusOr<bool> EtcdClient::PutIfOnce(const std::string& key, const std::string& value,
                                           int64_t expected_mod_revision, int64_t* revision,
                                           const Fence* fence) {
  return TxnIfModRevision(
      "put", key, expected_mod_revision,
      [&](etcdserverpb::RequestOp* op) {
        etcdserverpb::PutRequest* put = op->mutable_request_put();
        put->set_key(key);
        put->set_value(value);
      },
      revision, fence);
}

absl::StatusOr<bool> EtcdClient::DeleteIf(const std::string& key, int64_t expected_mod_revision) {
  absl::Status last;
  for (int attempt = 0; attempt < kAmbiguousAttempts; ++attempt) {
    absl::StatusOr<bool> deleted = DeleteIfOnce(key, expected_mod_revision);
    if (attempt > 0 && deleted.ok() && !*deleted) {
      // As in PutIf: the attempt that timed out may have deleted it since.
      absl::StatusOr<std::optional<KeyValue>> now = Get(key);
      if (now.ok() && !now->has_value()) return true;
    }
    if (deleted.ok() || !absl::IsDeadlineExceeded(deleted.status())) return deleted;
    last = deleted.status();
    absl::StatusOr<std::optional<KeyValue>> now = Get(key);
    if (!now.ok()) return now.status();
    if (!now->has_value()) return true;  // gone: ours, or someone's to the same end
    if ((*now)->mod_revision != expected_mod_revision) return false;
  }
  return last;
}

absl::StatusOr<bool> EtcdClient::DeleteIfOnce(const std::string& key,
                                              int64_t expected_mod_revision) {
  return TxnIfModRevision(
      "delete", key, expected_mod_revision,
      [&](etcdserverpb::RequestOp* op) { op->mutable_request_delete_range()->set_key(key); },
      /*revision=*/nullptr, /*fence=*/nullptr);
}

absl::StatusOr<int64_t> EtcdClient::GrantLease(absl::Duration ttl) {
  int64_t id = 0;
  RETURN_IF_ERROR(OnSomeEndpoint("lease grant", "", [&](Endpoint& e) {
    grpc::ClientContext context;
    PrepareCall(&context, options_.call_timeout);
    etcdserverpb::LeaseGrantRequest request;
    request.set_ttl(std::max<int64_t>(1, absl::ToInt64Seconds(ttl)));
    etcdserverpb::LeaseGrantResponse response;
    absl::Status s = FromGrpc(e.lease->LeaseGrant(&context, request, &response));
    if (s.ok() && !response.error().empty()) return absl::InternalError(response.error());
    id = response.id();
    return s;
  }));
  return id;
}

absl::Status EtcdClient::KeepAliveOnce(int64_t lease_id) {
  return OnSomeEndpoint("lease keep-alive", "", [&](Endpoint& e) {
    grpc::ClientContext context;
    PrepareCall(&context, options_.call_timeout);
    auto stream = e.lease->LeaseKeepAlive(&context);
    etcdserverpb::LeaseKeepAliveRequest request;
    request.set_id(lease_id);
    etcdserverpb::LeaseKeepAliveResponse response;
    const bool ok = stream->Write(request) && stream->Read(&response);
    stream->WritesDone();
    absl::Status s = FromGrpc(stream->Finish());
    if (!s.ok()) return s;
    if (!ok || response.ttl() <= 0) return absl::NotFoundError("the lease has expired");
    return absl::OkStatus();
  });
}

absl::Status EtcdClient::RevokeLease(int64_t lease_id) {
  return OnSomeEndpoint("lease revoke", "", [&](Endpoint& e) {
    grpc::ClientContext context;
    PrepareCall(&context, options_.call_timeout);
    etcdserverpb::LeaseRevokeRequest request;
    request.set_id(lease_id);
    etcdserverpb::LeaseRevokeResponse response;
    return FromGrpc(e.lease->LeaseRevoke(&context, request, &response));
  });
}

absl::StatusOr<bool> EtcdClient::PutWithLease(const std::string& key, const std::string& value,
                                              int64_t lease_id, bool only_if_absent) {
  // Not retried on a timeout: a campaign whose answer was lost is settled by
  // the caller's next read of the key (whose lease it carries).
  etcdserverpb::TxnRequest request;
  if (only_if_absent) {
    etcdserverpb::Compare* compare = request.add_compare();
    compare->set_key(key);
    compare->set_result(etcdserverpb::Compare::EQUAL);
    compare->set_target(etcdserverpb::Compare::CREATE);
    compare->set_create_revision(0);  // absent
  }
  return LeasedPut(key, value, lease_id, &request);
}

absl::StatusOr<bool> EtcdClient::PutWithLeaseIfOurs(const std::string& key,
                                                    const std::string& value, int64_t lease_id) {
  etcdserverpb::TxnRequest request;
  etcdserverpb::Compare* compare = request.add_compare();
  compare->set_key(key);
  compare->set_result(etcdserverpb::Compare::EQUAL);
  compare->set_target(etcdserverpb::Compare::LEASE);
  compare->set_lease(lease_id);  // an absent key compares as lease 0
  return LeasedPut(key, value, lease_id, &request);
}

absl::StatusOr<bool> EtcdClient::LeasedPut(const std::string& key, const std::string& value,
                                           int64_t lease_id, etcdserverpb::TxnRequest* request) {
  etcdserverpb::PutRequest* put = request->add_success()->mutable_request_put();
  put->set_key(key);
  put->set_value(value);
  put->set_lease(lease_id);
  bool succeeded = false;
  RETURN_IF_ERROR(OnSomeEndpoint("put with lease", key, [&](Endpoint& e) {
    grpc::ClientContext context;
    PrepareCall(&context, options_.call_timeout);
    etcdserverpb::TxnResponse response;
    absl::Status s = FromGrpc(e.kv->Txn(&context, *request, &response));
    // etcd answers a put on an expired lease with NOT_FOUND
    // ("etcdserver: requested lease not found"), not retried elsewhere.
    succeeded = s.ok() && response.succeeded();
    return s;
  }));
  return succeeded;
}

void EtcdClient::Cancel() {
  sync::MutexLock lock(&mu_);
  cancelled_ = true;
  if (watch_context_ != nullptr) static_cast<grpc::ClientContext*>(watch_context_)->TryCancel();
}

absl::Status EtcdClient::Watch(
    const std::string& prefix, int64_t start_revision, const std::function<void()>& on_created,
    const std::function<void(const std::vector<WatchEvent>&, int64_t)>& on_events) {
  size_t index;
  {
    sync::MutexLock lock(&mu_);
    index = current_;
  }
  Endpoint& e = *endpoints_[index];
  grpc::ClientContext context;
  {
    sync::MutexLock lock(&mu_);
    if (cancelled_) return absl::CancelledError("etcd watch cancelled");
    watch_context_ = &context;
  }
  // etcd also ends a watch whose member has lost the leader, when asked.
  context.AddMetadata("hasleader", "true");
  auto stream = e.watch->Watch(&context);
  sync::Notification watch_over;
  std::atomic<bool> member_silent{false};
  std::atomic<bool> events_lost{false};
  // The revision of the last event the reader received, and whether it is
  // waiting on the stream (not on a full backlog).
  std::atomic<int64_t> received{start_revision - 1};
  std::atomic<bool> reading{false};
  std::thread probe([&] {
    int misses = 0;
    int behind = 0;
    int64_t last_received = -1;
    while (!watch_over.WaitForNotificationWithTimeout(kWatchProbeInterval)) {
      grpc::ClientContext probe_context;
      PrepareCall(&probe_context, kWatchProbeDeadline);
      // Linearizable, and small: only keys changed after what was received
      // (usually none), without values.
      const int64_t seen = received;
      etcdserverpb::RangeRequest read;
      read.set_key(prefix);
      read.set_range_end(PrefixEnd(prefix));
      read.set_keys_only(true);
      read.set_min_mod_revision(seen + 1);
      etcdserverpb::RangeResponse response;
      if (!e.kv->Range(&probe_context, read, &response).ok()) {
        if (++misses < kWatchProbeMisses) continue;
        member_silent = true;
        context.TryCancel();
        return;
      }
      misses = 0;
      const bool stuck = response.kvs_size() > 0 && reading && seen == last_received;
      behind = stuck ? behind + 1 : 0;
      last_received = seen;
      if (behind >= kWatchProbesBehind) {
        events_lost = true;
        context.TryCancel();
        return;
      }
    }
  });
  // The stream is read on its own thread, so that responses keep arriving
  // while `on_events` runs; this thread hands on all that has arrived at once.
  WatchBacklog backlog;
  absl::Status ended = absl::OkStatus();
  grpc::Status finished;
  std::thread reader([&] {
    etcdserverpb::WatchRequest request;
    etcdserverpb::WatchCreateRequest* create = request.mutable_create_request();
    create->set_key(prefix);
    create->set_range_end(PrefixEnd(prefix));
    create->set_start_revision(start_revision);
    if (stream->Write(request)) {
      etcdserverpb::WatchResponse response;
      for (;;) {
        reading = true;
        const bool read = stream->Read(&response);
        reading = false;
        if (!read) break;
        if (response.compact_revision() > 0) {
          ended =
              absl::OutOfRangeError(absl::StrCat("etcd watch of \"", prefix, "\" at ", e.address,
                                                 ": compacted past revision ", start_revision));
          break;
        }
        if (response.canceled()) {
          ended = absl::UnavailableError(
              absl::StrCat("etcd watch of \"", prefix, "\" at ", e.address,
                           " cancelled by the server: ", response.cancel_reason()));
          break;
        }
        if (!response.created() && response.events_size() == 0) continue;
        std::vector<WatchEvent> events;
        for (const etcdserverpb::Event& event : response.events()) {
          events.push_back(
              WatchEvent{event.type() == etcdserverpb::Event::DELETE, FromProto(event.kv())});
        }
        for (const WatchEvent& event : events) {
          if (event.kv.mod_revision > received) received = event.kv.mod_revision;
        }
        backlog.Add(response.created(), std::move(events), response.ByteSizeLong());
      }
    }
    context.TryCancel();
    finished = stream->Finish();
    backlog.Close();
  });
  for (WatchBacklog::Taken taken = backlog.Take(); !taken.closed; taken = backlog.Take()) {
    if (taken.created) on_created();
    if (!taken.events.empty()) on_events(taken.events, taken.revision);
  }
  reader.join();
  watch_over.Notify();
  probe.join();
  {
    sync::MutexLock lock(&mu_);
    watch_context_ = nullptr;
    if (cancelled_) return absl::CancelledError("etcd watch cancelled");
    // The next attempt (list, then watch) goes to the next member.
    current_ = (index + 1) % endpoints_.size();
  }
  if (!ended.ok()) return ended;
  if (events_lost) {
    return absl::UnavailableError(
        absl::StrCat("store_unavailable: etcd watch of \"", prefix, "\" at ", e.address,
                     " left: keys changed after revision ", received.load(), " were not sent for ",
                     kWatchProbesBehind, " probes in a row (etcd dropped the watch's events)"));
  }
  if (member_silent) {
    return absl::UnavailableError(absl::StrCat(
        "store_unavailable: etcd watch of \"", prefix, "\" at ", e.address,
        " left: ", kWatchProbeMisses, " read(s) in a row refused or not answered within ",
        absl::FormatDuration(kWatchProbeDeadline), " (the member hangs or has no leader)"));
  }
  return absl::UnavailableError(absl::StrCat("store_unavailable: etcd watch of \"", prefix,
                                             "\" at ", e.address,
                                             " ended: ", finished.error_message(), e.TlsNote()));
}

}  // namespace palisade::control::state::etcd
