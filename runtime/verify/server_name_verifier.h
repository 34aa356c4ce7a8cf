// Judges a TLS server the way an HTTPS client does (the Kubernetes API
// server, an OpenID issuer): not an X.509-SVID (peer_verifier.h) but an
// ordinary server certificate that must chain to the configured roots, be
// valid now, be fit for TLS server use, and name the host that was dialled.
#ifndef PALISADE_RUNTIME_VERIFY_SERVER_NAME_VERIFIER_H_
#define PALISADE_RUNTIME_VERIFY_SERVER_NAME_VERIFIER_H_

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace palisade::verify {

// The roots of a CA file (PEM, one or more CA certificates). Immutable once
// built; thread-safe. InvalidArgument naming the problem when the file holds
// no certificate, or a certificate that is not a CA.
class ServerRoots {
 public:
  static absl::StatusOr<ServerRoots> FromPem(absl::string_view pem);
  X509_STORE* store() const { return store_.get(); }
  size_t size() const { return size_; }

 private:
  bssl::UniquePtr<X509_STORE> store_;
  size_t size_ = 0;
};

// OK when the chain `ssl`'s server sent verifies under `roots` at `now` and
// its leaf names `host` (a DNS name in a DNS SAN, or an IP literal in an IP
// SAN). Unauthenticated otherwise, naming `host` and the reason.
absl::Status VerifyServerName(const SSL* ssl, const ServerRoots& roots, absl::string_view host,
                              absl::Time now);

// OK when the chain `ssl`'s server sent verifies under `roots` at `now` and
// its leaf is an X.509-SVID of exactly `spiffe_id` (one URI SAN): how a SPIFFE
// bundle endpoint of the https_spiffe profile is judged, `roots` being the
// bundle of the endpoint's trust domain. Unauthenticated otherwise, naming
// `spiffe_id` and the reason.
absl::Status VerifyServerSpiffeId(const SSL* ssl, const ServerRoots& roots,
                                  absl::string_view spiffe_id, absl::Time now);

}  // namespace palisade::verify

#endif  // PALISADE_RUNTIME_VERIFY_SERVER_NAME_VERIFIER_H_
