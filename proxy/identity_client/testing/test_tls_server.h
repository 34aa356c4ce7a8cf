// For tests: the control plane's transport shape in miniature, on the
// runtime's TLS terminator. It presents a server SVID, verifies client SVIDs
// if asked to, forwards each connection's plaintext to a backend (a gRPC
// server on a loopback port), and remembers which verified peer sits behind
// each forwarded connection's source port (CONSTRAINTS.md §2).
#ifndef PALISADE_PROXY_IDENTITY_CLIENT_TESTING_TEST_TLS_SERVER_H_
#define PALISADE_PROXY_IDENTITY_CLIENT_TESTING_TEST_TLS_SERVER_H_

#include <openssl/ssl.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "identity/trust_bundle.h"
#include "runtime/sync/mutex.h"
#include "runtime/tls/context_setup.h"
#include "runtime/tls/tls_terminator.h"

namespace palisade::identity_client::testing {

// Every public method is thread-safe.
class TestTlsServer {
 public:
  using ClientCerts = tls::PeerCertificates;
  struct Options {
    std::vector<X509*> chain;  // server SVID, leaf first
    EVP_PKEY* key = nullptr;
    ClientCerts client_certs = ClientCerts::kOptional;
    identity::TrustBundleSet client_bundles;  // verifies client SVIDs
    std::string backend;                      // "127.0.0.1:port", plaintext
    uint16_t max_tls_version = TLS1_3_VERSION;
    uint16_t port = 0;  // 0: any free port
  };

  static absl::StatusOr<std::unique_ptr<TestTlsServer>> Start(Options options);

  uint16_t port() const { return terminator_->address().port(); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port()); }

  // The verified client SPIFFE ID ("" when none was presented) behind a
  // gRPC peer string "ipv4:127.0.0.1:PORT"; nullopt for an unknown peer.
  std::optional<std::string> ClientIdOfGrpcPeer(const std::string& peer) const;

  int handshakes_ok() const;
  // Reason codes of failed server-side handshakes, in order.
  std::vector<std::string> handshake_failures() const;
  int live_connections() const { return static_cast<int>(terminator_->connection_count()); }

  // Closes every live connection and, while refusing, every new one at once.
  void SetRefusing(bool refusing) { terminator_->SetServing(!refusing); }

 private:
  TestTlsServer() = default;

  mutable sync::Mutex mutex_;
  std::map<uint16_t, std::string> peers_ ABSL_GUARDED_BY(mutex_);
  int handshakes_ok_ ABSL_GUARDED_BY(mutex_) = 0;
  std::vector<std::string> failures_ ABSL_GUARDED_BY(mutex_);
  // Last: stopped (its events silenced) before the rest goes.
  std::unique_ptr<tls::TlsTerminator> terminator_;
};

}  // namespace palisade::identity_client::testing

#endif  // PALISADE_PROXY_IDENTITY_CLIENT_TESTING_TEST_TLS_SERVER_H_
