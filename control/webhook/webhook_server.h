// The mutating admission webhook: POST /inject (AdmissionReview v1 in, the
// injector's JSONPatch out) on a loopback HTTP server, reached through the
// runtime's TLS terminator with the operator's certificate (PEM files, which
// the Kubernetes API server requires; an ordinary certificate, not an SVID).
#ifndef PALISADE_CONTROL_WEBHOOK_WEBHOOK_SERVER_H_
#define PALISADE_CONTROL_WEBHOOK_WEBHOOK_SERVER_H_

#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "control/inject/inject_options.h"
#include "runtime/http/http_server.h"
#include "runtime/net/socket_address.h"
#include "runtime/sync/mutex.h"
#include "runtime/tls/tls_terminator.h"

namespace palisade::control::webhook {

class WebhookServer {
 public:
  struct Options {
    net::SocketAddress listen;
    std::string tls_certificate_file;  // PEM, leaf first
    std::string tls_key_file;          // PEM
    inject::InjectOptions inject;
    size_t max_connections = 1024;
    absl::Duration handshake_timeout = absl::Seconds(10);
    absl::Duration idle_timeout = absl::Seconds(60);
  };
  static absl::StatusOr<std::unique_ptr<WebhookServer>> Start(Options options);
  net::SocketAddress address() const { return https_->address(); }

  // Re-reads the certificate and key files (cert-manager and friends renew
  // them in place). New connections use a changed, valid pair; live ones keep
  // theirs. True when the certificate changed, false when it is the same; an
  // error (naming the file and the problem) leaves the running pair serving.
  absl::StatusOr<bool> ReloadCertificate() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  WebhookServer() = default;
  Options options_;
  http::HttpServer http_;
  std::unique_ptr<tls::TlsTerminator> https_;
  sync::Mutex mu_;                                      // one reload at a time
  bssl::UniquePtr<X509> serving_ ABSL_GUARDED_BY(mu_);  // the leaf being served
};

}  // namespace palisade::control::webhook

#endif  // PALISADE_CONTROL_WEBHOOK_WEBHOOK_SERVER_H_
