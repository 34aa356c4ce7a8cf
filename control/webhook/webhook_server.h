// The mutating admission webhook: POST /inject (AdmissionReview v1 in, the
// injector's JSONPatch out) on a loopback HTTP server, reached through an
// HTTPS terminator with the operator's certificate.
#ifndef PALISADE_CONTROL_WEBHOOK_WEBHOOK_SERVER_H_
#define PALISADE_CONTROL_WEBHOOK_WEBHOOK_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "control/inject/inject_options.h"
#include "control/webhook/https_terminator.h"
#include "runtime/http/http_server.h"
#include "runtime/net/socket_address.h"

namespace palisade::control {

class WebhookServer {
 public:
  struct Options {
    net::SocketAddress listen;
    std::string tls_certificate_file;
    std::string tls_key_file;
    inject::InjectOptions inject;
  };
  static absl::StatusOr<std::unique_ptr<WebhookServer>> Start(Options options);
  net::SocketAddress address() const { return https_->address(); }
  // See HttpsTerminator::ReloadCertificate.
  absl::StatusOr<bool> ReloadCertificate() { return https_->ReloadCertificate(); }

 private:
  WebhookServer() = default;
  inject::InjectOptions inject_;
  http::HttpServer http_;
  std::unique_ptr<HttpsTerminator> https_;
};

}  // namespace palisade::control

#endif  // PALISADE_CONTROL_WEBHOOK_WEBHOOK_SERVER_H_
