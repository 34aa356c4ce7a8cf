#include "control/federation/bundle_endpoint.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "identity/certificate.h"
#include "identity/keys.h"
#include "identity/spiffe_bundle.h"
#include "runtime/files/files.h"
#include "runtime/log/logging.h"
#include "runtime/status/status_macros.h"
#include "runtime/tls/context_setup.h"

namespace palisade::control::federation {
namespace {

absl::Status FlagError(absl::string_view flag, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", problem));
}

absl::StatusOr<std::shared_ptr<const tls::TlsTerminator::Credentials>> ServerCredentials(
    const std::vector<X509*>& chain, EVP_PKEY* key) {
  tls::ContextOptions context;
  context.role = tls::Role::kServer;
  context.chain = chain;
  context.key = key;
  // A public document: anyone may fetch it, so no client certificate is asked.
  context.peer_certificates = tls::PeerCertificates::kNotRequested;
  ASSIGN_OR_RETURN(bssl::UniquePtr<SSL_CTX> ctx, tls::NewContext(context));
  auto credentials = std::make_shared<tls::TlsTerminator::Credentials>();
  credentials->context = std::move(ctx);
  return credentials;
}

// https_web: the operator's certificate and key files; errors name the flag.
absl::StatusOr<std::shared_ptr<const tls::TlsTerminator::Credentials>> WebCredentials(
    const BundleEndpoint::Options& o) {
  absl::StatusOr<std::string> chain_pem =
      files::ReadSmallFile(o.tls_certificate_file, "certificate file");
  if (!chain_pem.ok()) return FlagError("bundle_endpoint_tls_cert", chain_pem.status().message());
  auto chain = identity::ParsePemCertificates(*chain_pem);
  if (!chain.ok()) {
    return FlagError("bundle_endpoint_tls_cert",
                     absl::StrCat(o.tls_certificate_file, ": ", chain.status().message()));
  }
  absl::StatusOr<std::string> key_pem = files::ReadSmallFile(o.tls_key_file, "key file");
  if (!key_pem.ok()) return FlagError("bundle_endpoint_tls_key", key_pem.status().message());
  auto key = identity::ParsePrivateKeyPem(*key_pem);
  if (!key.ok()) {
    return FlagError("bundle_endpoint_tls_key",
                     absl::StrCat(o.tls_key_file, ": ", key.status().message()));
  }
  std::vector<X509*> certs;
  for (const auto& cert : *chain) certs.push_back(cert.get());
  auto credentials = ServerCredentials(certs, key->get());
  if (!credentials.ok()) {
    return FlagError("bundle_endpoint_tls_key",
                     absl::StrCat(o.tls_key_file, " with ", o.tls_certificate_file, ": ",
                                  credentials.status().message()));
  }
  return credentials;
}

}  // namespace

absl::Status BundleEndpoint::Validate(const Options& options) {
  if (options.refresh_hint < absl::Seconds(1) ||
      options.refresh_hint > identity::kMaxSpiffeRefreshHint) {
    return FlagError("bundle_endpoint_refresh_hint",
                     absl::StrCat("must be between 1s and ",
                                  absl::FormatDuration(identity::kMaxSpiffeRefreshHint)));
  }
  if (options.tls_certificate_file.empty() != options.tls_key_file.empty()) {
    return FlagError(
        options.tls_certificate_file.empty() ? "bundle_endpoint_tls_cert"
                                             : "bundle_endpoint_tls_key",
        "https_web needs both --bundle_endpoint_tls_cert and --bundle_endpoint_tls_key");
  }
  if (!options.tls_certificate_file.empty()) RETURN_IF_ERROR(WebCredentials(options).status());
  return absl::OkStatus();
}

BundleEndpoint::BundleEndpoint(Options options)
    : options_(std::move(options)), http_(options_.http_limits) {}

BundleEndpoint::~BundleEndpoint() { Stop(); }

absl::StatusOr<std::unique_ptr<BundleEndpoint>> BundleEndpoint::Create(Options options) {
  RETURN_IF_ERROR(Validate(options));
  std::unique_ptr<BundleEndpoint> endpoint(new BundleEndpoint(std::move(options)));
  const Options& o = endpoint->options_;
  std::shared_ptr<const tls::TlsTerminator::Credentials> web;
  if (!o.tls_certificate_file.empty()) {
    ASSIGN_OR_RETURN(web, WebCredentials(o));
    endpoint->web_profile_ = true;
  }
  BundleEndpoint* raw = endpoint.get();
  // The document lives at "/": the federating side configures the whole URL.
  endpoint->http_.Route("GET", "/", [raw](const http::HttpRequest&) {
    const std::string document = raw->Document();
    if (document.empty()) return http::HttpResponse{503, "text/plain", "no bundle yet\n"};
    return http::HttpResponse{200, "application/json", document};
  });
  RETURN_IF_ERROR(endpoint->http_.Start(*net::SocketAddress::Parse("127.0.0.1:0")));

  // Bounded like the public port (the HTTP server's cap), and every
  // connection anonymous: a share per source, handshake and request deadlines.
  const size_t cap = endpoint->http_.max_connections();
  tls::TlsTerminator::Options https;
  https.listen = o.listen;
  https.backend = endpoint->http_.address();
  https.client_certificates = tls::PeerCertificates::kNotRequested;
  https.max_connections = cap;
  https.max_anonymous_per_source = std::max<size_t>(4, cap / 8);
  https.max_pending = 4 * cap;
  https.max_pending_per_source = std::max<size_t>(4, cap / 4);
  https.handshake_timeout = o.handshake_timeout;
  https.first_byte_timeout = o.handshake_timeout;
  https.idle_timeout = o.idle_timeout;
  https.backlog = 128;
  https.thread_name = "palisade-bundle";
  absl::StatusOr<std::unique_ptr<tls::TlsTerminator>> terminator =
      tls::TlsTerminator::Create(std::move(https), {});
  if (!terminator.ok()) return FlagError("bundle_endpoint_listen", terminator.status().message());
  endpoint->https_ = *std::move(terminator);
  if (web != nullptr) endpoint->https_->SetCredentials(std::move(web));
  return endpoint;
}

absl::Status BundleEndpoint::Update(const std::vector<X509*>& svid_chain, EVP_PKEY* svid_key,
                                    const std::vector<X509*>& roots, uint64_t bundle_version) {
  if (!web_profile_) {
    ASSIGN_OR_RETURN(std::shared_ptr<const tls::TlsTerminator::Credentials> credentials,
                     ServerCredentials(svid_chain, svid_key));
    https_->SetCredentials(std::move(credentials));
  }
  sync::MutexLock lock(&mu_);
  if (document_ != nullptr && document_version_ == bundle_version) return absl::OkStatus();
  identity::SpiffeBundle bundle;
  bundle.trust_domain = options_.trust_domain;
  for (X509* root : roots) bundle.x509_authorities.push_back(bssl::UpRef(root));
  bundle.sequence = bundle_version;
  bundle.refresh_hint = absl::Trunc(options_.refresh_hint, absl::Seconds(1));
  document_ = std::make_shared<const std::string>(identity::SerializeSpiffeBundle(bundle));
  document_version_ = bundle_version;
  log::LogEvent(log::Level::kInfo, "control", "bundle endpoint document updated",
                {{"spiffe_sequence", bundle_version}, {"roots", roots.size()}});
  return absl::OkStatus();
}

absl::Status BundleEndpoint::Start() {
  RETURN_IF_ERROR(https_->Start());
  log::LogEvent(log::Level::kInfo, "control", "SPIFFE bundle endpoint up",
                {{"address", https_->address().ToString()},
                 {"profile", web_profile_ ? "https_web" : "https_spiffe"},
                 {"max_connections", https_->limits().max_connections}});
  return absl::OkStatus();
}

void BundleEndpoint::Stop() {
  if (https_ != nullptr) https_->Stop();
}

std::string BundleEndpoint::Document() const {
  std::shared_ptr<const std::string> document;
  {
    sync::MutexLock lock(&mu_);
    document = document_;
  }
  return document == nullptr ? "" : *document;
}

}  // namespace palisade::control::federation
