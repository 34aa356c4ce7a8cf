// The gRPC channel to palisade-control over the proxy's own BoringSSL TLS:
// the runtime's TLS dialer (the control plane's name resolved, its SVID
// verified to carry one exact SPIFFE ID), then a socketpair whose one end is
// pumped through the TLS connection while gRPC speaks plaintext on the other
// (shared/design/CONSTRAINTS.md §2).
#ifndef PALISADE_PROXY_IDENTITY_CLIENT_SECURE_CHANNEL_H_
#define PALISADE_PROXY_IDENTITY_CLIENT_SECURE_CHANNEL_H_

#include <grpcpp/channel.h>
#include <openssl/ssl.h>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "identity/svid_verifier.h"
#include "identity/trust_bundle.h"
#include "runtime/event/event_loop.h"
#include "runtime/sync/mutex.h"

namespace palisade::identity_client {

struct SecureChannelOptions {
  std::string address;               // "host:port" of the control plane's identity port
  std::string server_spiffe_id;      // the server must present exactly this SPIFFE ID
  identity::TrustBundleSet bundles;  // the roots that verify the server
  // Optional client SVID (leaf first, then intermediates) and its key.
  std::vector<bssl::UniquePtr<X509>> client_chain;
  bssl::UniquePtr<EVP_PKEY> client_key;
  absl::Duration connect_timeout = absl::Seconds(5);  // name lookup + TCP connect
  absl::Duration handshake_timeout = absl::Seconds(10);
  uint16_t min_tls_version = TLS1_2_VERSION;  // never lower; TLS 1.3 is preferred
  absl::Duration clock_skew = absl::ZeroDuration();
  std::function<absl::Time()> clock = [] { return absl::Now(); };
};

// Owns a loop thread that connects, handshakes and then pumps bytes between
// the TLS connection and gRPC's end of the socketpair; nothing else runs on
// it. Every public method is thread-safe. A channel made from an fd never
// reconnects: make a new SecureChannel per attempt.
//
// In TLS 1.3 a server that refuses our certificate (or its absence) says so
// after our side of the handshake has finished: WaitConnected() is then OK,
// the first RPC fails, and transport_status() names the refusal.
class SecureChannel {
 public:
  // Starts connecting and returns at once. Errors only for bad options
  // (address, SPIFFE ID, client key) and resource exhaustion.
  static absl::StatusOr<std::unique_ptr<SecureChannel>> Start(SecureChannelOptions options);
  // Start() then WaitConnected().
  static absl::StatusOr<std::unique_ptr<SecureChannel>> Connect(SecureChannelOptions options);
  // Close().
  ~SecureChannel();
  SecureChannel(const SecureChannel&) = delete;
  SecureChannel& operator=(const SecureChannel&) = delete;

  // Blocks until the TLS connection is up and the gRPC channel exists (OK),
  // or why not: Unavailable (lookup, connect, TLS failure), DeadlineExceeded
  // (a timeout), Unauthenticated (the server's SVID did not verify or names
  // another identity), Cancelled (Close() came first). Messages name the
  // address and the reason code.
  absl::Status WaitConnected();

  // The plaintext gRPC channel; null unless connected. RPCs on it fail once
  // the TLS connection is gone.
  std::shared_ptr<grpc::Channel> channel() const;
  // The server's verified SVID once connected.
  std::optional<identity::VerifiedSvid> server() const;
  // OK while connecting or up; afterwards why the connection ended.
  absl::Status transport_status() const;

  // Tears everything down: cancels a connect in progress, sends close_notify
  // if the connection is up, closes both ends of the socketpair (RPCs on the
  // channel fail) and joins the loop thread. Idempotent.
  void Close();

 private:
  class Connection;

  explicit SecureChannel(std::unique_ptr<event::EventLoop> loop);
  // Loop thread: the outcome of connecting, or the end of a connection that was up.
  void OnConnected(std::shared_ptr<grpc::Channel> channel, identity::VerifiedSvid server);
  void OnEnded(absl::Status status);

  std::unique_ptr<event::EventLoop> loop_;
  std::string target_;                      // "host:port", as gRPC names the channel
  std::unique_ptr<Connection> connection_;  // loop thread only, after Start()
  std::thread thread_;
  std::once_flag torn_down_;

  mutable sync::Mutex mutex_;
  bool settled_ ABSL_GUARDED_BY(mutex_) = false;  // WaitConnected() can return
  absl::Status connect_status_ ABSL_GUARDED_BY(mutex_);
  absl::Status transport_status_ ABSL_GUARDED_BY(mutex_);
  std::shared_ptr<grpc::Channel> channel_ ABSL_GUARDED_BY(mutex_);
  std::optional<identity::VerifiedSvid> server_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace palisade::identity_client

#endif  // PALISADE_PROXY_IDENTITY_CLIENT_SECURE_CHANNEL_H_
