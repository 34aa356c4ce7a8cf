// The control plane's SPIFFE bundle endpoint (SPIFFE Trust Domain and Bundle
// specification, section 5): GET / answers the trust domain's bundle as a
// SPIFFE bundle document (every root in the control plane's bundle, during a
// rollover all of them; spiffe_sequence = the bundle version;
// spiffe_refresh_hint), over HTTPS by the runtime's TLS terminator, to anyone
// (no client certificate: the document is public). Profile https_spiffe: the
// server authenticates with the control plane's own SVID, replaced at every
// renewal; profile https_web: with an operator's certificate from PEM files.
// Other organisations reach it, so connections are bounded like the public
// port's, and each one must handshake and send its request within deadlines.
#ifndef PALISADE_CONTROL_FEDERATION_BUNDLE_ENDPOINT_H_
#define PALISADE_CONTROL_FEDERATION_BUNDLE_ENDPOINT_H_

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/http/connection_limiter.h"
#include "runtime/http/http_server.h"
#include "runtime/net/socket_address.h"
#include "runtime/sync/mutex.h"
#include "runtime/tls/tls_terminator.h"

namespace palisade::control::federation {

class BundleEndpoint {
 public:
  struct Options {
    net::SocketAddress listen;
    std::string trust_domain;
    absl::Duration refresh_hint = absl::Minutes(5);  // whole seconds are sent
    // https_web: the server's certificate chain and key (PEM). Both empty:
    // https_spiffe, with the SVIDs given to Update.
    std::string tls_certificate_file;
    std::string tls_key_file;
    // The plaintext HTTP server behind the TLS terminator (its cap and
    // request deadline; the observer counts shed connections).
    http::ConnectionLimits http_limits;
    absl::Duration handshake_timeout = absl::Seconds(10);
    absl::Duration idle_timeout = absl::Seconds(60);
  };

  // Checks `options` as Create does (the refresh hint within 1s and
  // identity::kMaxSpiffeRefreshHint; https_web files both or neither, and
  // readable), without binding: for a server to refuse bad flags before it
  // writes anything. InvalidArgument naming the flag (--bundle_endpoint_*).
  static absl::Status Validate(const Options& options);
  // Validates, binds the listener (so address() is known) and, for
  // https_web, loads the certificate; accepts nothing until Start().
  static absl::StatusOr<std::unique_ptr<BundleEndpoint>> Create(Options options);
  ~BundleEndpoint();

  // The control plane's serving SVID (leaf first) and key, and its trust
  // bundle: the roots and their version. Any thread; new connections get the
  // latest, live ones keep theirs. With https_web only the document changes.
  absl::Status Update(const std::vector<X509*>& svid_chain, EVP_PKEY* svid_key,
                      const std::vector<X509*>& roots, uint64_t bundle_version)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Needs an Update first.
  absl::Status Start();
  void Stop();

  net::SocketAddress address() const { return https_->address(); }
  // The document served now ("" before the first Update).
  std::string Document() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  explicit BundleEndpoint(Options options);

  const Options options_;
  bool web_profile_ = false;
  http::HttpServer http_;
  std::unique_ptr<tls::TlsTerminator> https_;
  mutable sync::Mutex mu_;
  std::shared_ptr<const std::string> document_ ABSL_GUARDED_BY(mu_);
  uint64_t document_version_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace palisade::control::federation

#endif  // PALISADE_CONTROL_FEDERATION_BUNDLE_ENDPOINT_H_
