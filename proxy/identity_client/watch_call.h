// One IdentityService.Watch call to palisade-control: its SecureChannel, the
// bidirectional stream on it, and a reader thread that queues what arrives,
// so the owner can wait for the next message with a timeout.
#ifndef PALISADE_PROXY_IDENTITY_CLIENT_WATCH_CALL_H_
#define PALISADE_PROXY_IDENTITY_CLIENT_WATCH_CALL_H_

#include <grpcpp/grpcpp.h>

#include <deque>
#include <memory>
#include <optional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "identity/svid_verifier.h"
#include "proto/palisade/control/v1/control.grpc.pb.h"
#include "proxy/identity_client/secure_channel.h"
#include "runtime/sync/mutex.h"

namespace palisade::identity_client {

// One owner thread calls WaitOpen, Write, WaitNext and Finish; Cancel may
// come from any thread. The reader thread only reads and queues.
class WatchCall {
 public:
  // Starts connecting; returns at once (errors only for bad options).
  static absl::StatusOr<std::unique_ptr<WatchCall>> Start(SecureChannelOptions options);
  // Finish().
  ~WatchCall();
  WatchCall(const WatchCall&) = delete;
  WatchCall& operator=(const WatchCall&) = delete;

  // Blocks until the stream is open, or why it cannot be (the channel's
  // error; Cancelled after Cancel()).
  absl::Status WaitOpen();
  // The control plane's verified SVID, once open.
  std::optional<identity::VerifiedSvid> server() const { return channel_->server(); }

  // False once the stream is broken; its end then comes through WaitNext.
  bool Write(const control::v1::WatchRequest& request);

  enum class Next { kMessage, kEnded, kTimeout };
  // The next message, the end of the stream (or a Cancel()), or nothing
  // within `timeout`.
  Next WaitNext(absl::Duration timeout, control::v1::WatchResponse* response);

  // Ends the call (or the connect in progress) as soon as possible.
  void Cancel();

  struct Outcome {
    grpc::Status status;        // how the stream ended
    absl::Status transport;     // why the TLS connection ended, if it did
    bool server_ended = false;  // the server ended it before we gave up on it
  };
  // Cancels unless the server already ended the stream, joins the reader,
  // takes the stream's status and closes the channel. Idempotent.
  Outcome Finish();

 private:
  explicit WatchCall(std::unique_ptr<SecureChannel> channel);

  std::unique_ptr<SecureChannel> channel_;
  std::unique_ptr<control::v1::IdentityService::Stub> stub_;  // owner thread
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<control::v1::WatchRequest, control::v1::WatchResponse>>
      stream_;
  std::thread reader_;
  std::optional<Outcome> outcome_;  // owner thread, once finished

  sync::Mutex mutex_;
  std::deque<control::v1::WatchResponse> inbox_ ABSL_GUARDED_BY(mutex_);
  bool read_done_ ABSL_GUARDED_BY(mutex_) = false;  // the reader saw the end
  bool cancelled_ ABSL_GUARDED_BY(mutex_) = false;
  bool opened_ ABSL_GUARDED_BY(mutex_) = false;  // stream_ exists
};

}  // namespace palisade::identity_client

#endif  // PALISADE_PROXY_IDENTITY_CLIENT_WATCH_CALL_H_
