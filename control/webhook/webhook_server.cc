#include "control/webhook/webhook_server.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "control/inject/admission_review.h"
#include "identity/certificate.h"
#include "identity/keys.h"
#include "runtime/files/files.h"
#include "runtime/log/logging.h"
#include "runtime/status/status_macros.h"
#include "runtime/tls/context_setup.h"

namespace palisade::control::webhook {
namespace {

struct LoadedCertificate {
  std::shared_ptr<tls::TlsTerminator::Credentials> credentials;
  bssl::UniquePtr<X509> leaf;
};

// The serving credentials from the PEM files; errors name the file.
absl::StatusOr<LoadedCertificate> Load(const WebhookServer::Options& o) {
  ASSIGN_OR_RETURN(std::string chain_pem,
                   files::ReadSmallFile(o.tls_certificate_file, "certificate file"));
  auto chain = identity::ParsePemCertificates(chain_pem);
  if (!chain.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(o.tls_certificate_file, ": ", chain.status().message()));
  }
  ASSIGN_OR_RETURN(std::string key_pem, files::ReadSmallFile(o.tls_key_file, "key file"));
  auto key = identity::ParsePrivateKeyPem(key_pem);
  if (!key.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(o.tls_key_file, ": ", key.status().message()));
  }
  tls::ContextOptions context;
  context.role = tls::Role::kServer;
  for (const auto& cert : *chain) context.chain.push_back(cert.get());
  context.key = key->get();
  context.peer_certificates = tls::PeerCertificates::kNotRequested;
  absl::StatusOr<bssl::UniquePtr<SSL_CTX>> ctx = tls::NewContext(context);
  if (!ctx.ok()) {
    // Names both files: a key that does not match its certificate is the usual cause.
    return absl::InvalidArgumentError(absl::StrCat(o.tls_certificate_file, " with ", o.tls_key_file,
                                                   ": ", ctx.status().message()));
  }
  LoadedCertificate loaded;
  loaded.credentials = std::make_shared<tls::TlsTerminator::Credentials>();
  loaded.credentials->context = *std::move(ctx);
  loaded.leaf = bssl::UpRef((*chain)[0]);
  return loaded;
}

}  // namespace

absl::StatusOr<std::unique_ptr<WebhookServer>> WebhookServer::Start(Options options) {
  RETURN_IF_ERROR(inject::ValidateInjectOptions(options.inject));
  ASSIGN_OR_RETURN(LoadedCertificate certificate, Load(options));
  std::unique_ptr<WebhookServer> server(new WebhookServer());
  server->options_ = options;
  WebhookServer* raw = server.get();
  auto handle = [raw](const http::HttpRequest& request) {
    absl::StatusOr<std::string> response =
        inject::HandleAdmissionReview(request.body, raw->options_.inject);
    if (!response.ok()) {
      log::LogEvent(log::Level::kWarn, "control", "admission review refused",
                    {{"error", std::string(response.status().message())}});
      return http::HttpResponse{400, "text/plain", std::string(response.status().message())};
    }
    return http::HttpResponse{200, "application/json", *response};
  };
  server->http_.Route("POST", "/inject", handle);
  server->http_.Route("POST", "/mutate", handle);
  RETURN_IF_ERROR(server->http_.Start(*net::SocketAddress::Parse("127.0.0.1:0")));

  tls::TlsTerminator::Options https;
  https.listen = options.listen;
  https.backend = server->http_.address();
  https.client_certificates = tls::PeerCertificates::kNotRequested;
  https.max_connections = options.max_connections;
  https.handshake_timeout = options.handshake_timeout;
  https.idle_timeout = options.idle_timeout;
  // The API server speaks first; a client that does not is holding a slot.
  https.first_byte_timeout = options.handshake_timeout;
  https.backlog = 128;
  https.thread_name = "palisade-webhook";
  ASSIGN_OR_RETURN(server->https_, tls::TlsTerminator::Create(std::move(https), {}));
  server->https_->SetCredentials(std::move(certificate.credentials));
  {
    sync::MutexLock lock(&server->mu_);
    server->serving_ = std::move(certificate.leaf);
  }
  RETURN_IF_ERROR(server->https_->Start());
  return server;
}

absl::StatusOr<bool> WebhookServer::ReloadCertificate() {
  ASSIGN_OR_RETURN(LoadedCertificate fresh, Load(options_));
  sync::MutexLock lock(&mu_);
  if (X509_cmp(serving_.get(), fresh.leaf.get()) == 0) return false;
  https_->SetCredentials(std::move(fresh.credentials));
  serving_ = std::move(fresh.leaf);
  return true;
}

}  // namespace palisade::control::webhook
