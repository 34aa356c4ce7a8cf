// For tests: the control plane's transport shape in miniature. A BoringSSL
// TLS listener on loopback presents a server SVID, verifies client SVIDs if
// asked to, and forwards each connection's plaintext to a backend (a gRPC
// server on a loopback port), recording which verified peer sits behind each
// forwarded connection's source port (shared/design/CONSTRAINTS.md §2).
#ifndef PALISADE_PROXY_IDENTITY_CLIENT_TESTING_TEST_TLS_SERVER_H_
#define PALISADE_PROXY_IDENTITY_CLIENT_TESTING_TEST_TLS_SERVER_H_

#include <openssl/ssl.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "identity/trust_bundle.h"
#include "runtime/event/event_loop.h"
#include "runtime/sync/mutex.h"

namespace palisade::identity_client::testing {

// Runs on its own loop thread; every public method is thread-safe.
class TestTlsServer {
 public:
  enum class ClientCerts { kNotRequested, kOptional, kRequired };
  struct Options {
    std::vector<X509*> chain;  // server SVID, leaf first (references taken)
    EVP_PKEY* key = nullptr;
    ClientCerts client_certs = ClientCerts::kOptional;
    identity::TrustBundleSet client_bundles;  // verifies client SVIDs
    std::string backend;                      // "127.0.0.1:port", plaintext
    uint16_t max_tls_version = TLS1_3_VERSION;
    uint16_t port = 0;  // 0: any free port
  };

  static absl::StatusOr<std::unique_ptr<TestTlsServer>> Start(Options options);
  ~TestTlsServer();

  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // The verified client SPIFFE ID ("" when none was presented) behind a
  // gRPC peer string "ipv4:127.0.0.1:PORT"; nullopt for an unknown peer.
  std::optional<std::string> ClientIdOfGrpcPeer(const std::string& peer) const;

  int handshakes_ok() const;
  // Reason codes of failed server-side handshakes, in order.
  std::vector<std::string> handshake_failures() const;
  int live_connections() const;

  // Closes every live connection and, while refusing, every new one at once.
  void SetRefusing(bool refusing);

  struct Conn;

 private:
  TestTlsServer() = default;
  void OnAcceptable();
  void Handshake(uint64_t id);
  void Forward(uint64_t id);
  void Release(uint64_t id);  // on the next turn

  std::unique_ptr<event::EventLoop> loop_;
  std::thread thread_;
  bssl::UniquePtr<SSL_CTX> ctx_;
  Options options_;
  uint16_t port_ = 0;
  int listen_fd_ = -1;
  std::unique_ptr<event::FdWatcher> listen_watch_;   // loop thread
  std::map<uint64_t, std::unique_ptr<Conn>> conns_;  // loop thread
  uint64_t next_id_ = 1;                             // loop thread

  mutable sync::Mutex mutex_;
  bool refusing_ ABSL_GUARDED_BY(mutex_) = false;
  std::map<uint16_t, std::string> peers_ ABSL_GUARDED_BY(mutex_);
  int handshakes_ok_ ABSL_GUARDED_BY(mutex_) = 0;
  std::vector<std::string> failures_ ABSL_GUARDED_BY(mutex_);
  int live_ ABSL_GUARDED_BY(mutex_) = 0;
};

}  // namespace palisade::identity_client::testing

#endif  // PALISADE_PROXY_IDENTITY_CLIENT_TESTING_TEST_TLS_SERVER_H_
