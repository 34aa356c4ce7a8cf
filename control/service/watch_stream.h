// One IdentityService.Watch stream on gRPC's callback API: a reactor that
// reads one message at a time and hands it to its host, and a write queue
// that other threads (bundle pushes, re-key requests, de-registration) may
// feed. No thread is held per stream.
#ifndef PALISADE_CONTROL_SERVICE_WATCH_STREAM_H_
#define PALISADE_CONTROL_SERVICE_WATCH_STREAM_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_callback.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "control/service/peer_table.h"
#include "identity/spiffe_id.h"
#include "proto/palisade/control/v1/control.pb.h"
#include "runtime/sync/mutex.h"

namespace palisade::control::service {

class WatchStream;

// What a stream knows about its proxy. Written by the host on the stream's
// reading thread, read by anyone through WatchStream::info().
struct StreamInfo {
  std::optional<PeerIdentity> peer;  // from the identity port; nullopt = unknown transport
  std::optional<identity::SpiffeId> spiffe_id;  // once Hello authenticated it
  std::string credential;                       // "svid", "join_token", "service_account"
  std::string token_id;                         // join token id, if any
  std::string lineage;                          // see IssuedCertificate::lineage
  std::string instance;
  std::string version;
  bool bootstrap = false;
  absl::Time started_at;
  absl::Time hello_at = absl::InfinitePast();
  uint64_t svids_issued = 0;
  uint64_t acked_bundle_version = 0;
  std::string leaf_serial;
  std::string leaf_root_fingerprint;
  absl::Time leaf_not_after = absl::InfinitePast();
  std::map<std::string, uint64_t> connections_by_root;
  bool hello_done() const { return spiffe_id.has_value(); }
};

// The stream's owner: authenticates, answers, and learns when it ends.
class StreamHost {
 public:
  virtual ~StreamHost() = default;
  // Before the first read; an error ends the stream with it at once.
  virtual absl::Status OnStreamStart(const std::shared_ptr<WatchStream>& stream) = 0;
  // One message; an error ends the stream with it (after queued writes).
  virtual absl::Status OnMessage(const std::shared_ptr<WatchStream>& stream,
                                 const v1::WatchRequest& request) = 0;
  // Once, when gRPC is done with the stream.
  virtual void OnStreamDone(const std::shared_ptr<WatchStream>& stream) = 0;
};

// Thread-safe handle on one stream; lives as long as anyone holds it, while
// the reactor it drives lives until gRPC's OnDone.
class WatchStream {
 public:
  // Makes the reactor for `context`; gRPC owns it from here.
  static grpc::ServerBidiReactor<v1::WatchRequest, v1::WatchResponse>* Start(
      grpc::CallbackServerContext* context, StreamHost* host, uint64_t id, absl::Time now);

  uint64_t id() const { return id_; }
  const std::string& grpc_peer() const { return grpc_peer_; }

  // Queues a message; dropped once the stream is ending.
  void Send(v1::WatchResponse response);
  // Ends the stream with `status` once what is queued has been written.
  // Only the first call counts. Returns whether this call ended it.
  bool End(const absl::Status& status);
  bool ending() const;

  StreamInfo info() const;
  void Update(const std::function<void(StreamInfo&)>& change);

 private:
  class Reactor;
  WatchStream(uint64_t id, std::string grpc_peer, absl::Time now);
  void OnWriteDone(bool ok);
  // Starts the next write or the Finish; call with mu_ held, returns the
  // action to perform once it is released.
  std::function<void()> NextAction() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const uint64_t id_;
  const std::string grpc_peer_;
  mutable sync::Mutex mu_;
  Reactor* reactor_ ABSL_GUARDED_BY(mu_) = nullptr;  // valid until finished_ (see .cc)
  StreamInfo info_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::WatchResponse> queue_ ABSL_GUARDED_BY(mu_);
  v1::WatchResponse writing_;  // owned by whoever set write_in_flight_
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> end_status_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;  // Finish() called
};

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace palisade::control::service

#endif  // PALISADE_CONTROL_SERVICE_WATCH_STREAM_H_
