#include "control/webhook/webhook_server.h"

#include "control/inject/admission_review.h"
#include "runtime/log/logging.h"

namespace palisade::control {

absl::StatusOr<std::unique_ptr<WebhookServer>> WebhookServer::Start(Options options) {
  if (absl::Status s = inject::ValidateInjectOptions(options.inject); !s.ok()) return s;
  std::unique_ptr<WebhookServer> server(new WebhookServer());
  server->inject_ = options.inject;
  WebhookServer* raw = server.get();
  auto handle = [raw](const http::HttpRequest& request) {
    absl::StatusOr<std::string> response =
        inject::HandleAdmissionReview(request.body, raw->inject_);
    if (!response.ok()) {
      log::LogEvent(log::Level::kWarn, "control", "admission review refused",
                    {{"error", std::string(response.status().message())}});
      return http::HttpResponse{400, "text/plain", std::string(response.status().message())};
    }
    return http::HttpResponse{200, "application/json", *response};
  };
  server->http_.Route("POST", "/inject", handle);
  server->http_.Route("POST", "/mutate", handle);
  if (absl::Status s = server->http_.Start(*net::SocketAddress::Parse("127.0.0.1:0")); !s.ok()) {
    return s;
  }
  HttpsTerminator::Options https;
  https.listen = options.listen;
  https.certificate_chain_file = options.tls_certificate_file;
  https.private_key_file = options.tls_key_file;
  https.backend = server->http_.address();
  absl::StatusOr<std::unique_ptr<HttpsTerminator>> terminator =
      HttpsTerminator::Start(std::move(https));
  if (!terminator.ok()) return terminator.status();
  server->https_ = *std::move(terminator);
  return server;
}

}  // namespace palisade::control
