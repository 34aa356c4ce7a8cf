#include "tests/util/https_document_server.h"

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "tests/util/tls_test_support.h"

namespace palisade::testing {

HttpsDocumentServer::HttpsDocumentServer(std::string name) : name_(std::move(name)) {}

HttpsDocumentServer::~HttpsDocumentServer() {
  if (https_ != nullptr) https_->Stop();  // its connections reach http_: it goes first
}

void HttpsDocumentServer::Die(const std::string& what) const {
  std::fprintf(stderr, "%s: %s\n", name_.c_str(), what.c_str());
  std::abort();
}

void HttpsDocumentServer::Route(const std::string& method, const std::string& path,
                                http::HttpServer::Handler handler) {
  http_.Route(method, path, std::move(handler));
}

void HttpsDocumentServer::Start(const TestPki& pki, const CertSpec& spec) {
  if (absl::Status s = http_.Start(*net::SocketAddress::Parse("127.0.0.1:0")); !s.ok()) {
    Die(s.ToString());
  }
  tls::TlsTerminator::Options https;
  https.listen = *net::SocketAddress::Parse("127.0.0.1:0");
  https.backend = http_.address();
  https.client_certificates = tls::PeerCertificates::kNotRequested;
  https.thread_name = name_;
  absl::StatusOr<std::unique_ptr<tls::TlsTerminator>> created =
      tls::TlsTerminator::Create(std::move(https), {});
  if (!created.ok()) Die(created.status().ToString());
  https_ = *std::move(created);
  ServeLeaf(pki, spec);
  if (absl::Status s = https_->Start(); !s.ok()) Die(s.ToString());
}

void HttpsDocumentServer::ServeLeaf(const TestPki& pki, const CertSpec& spec) {
  const Credential leaf = pki.IssueLeaf(spec);
  auto credentials = std::make_shared<tls::TlsTerminator::Credentials>();
  credentials->context = ServerContext(pki, leaf, tls::PeerCertificates::kNotRequested);
  https_->SetCredentials(std::move(credentials));
}

uint16_t HttpsDocumentServer::port() const { return https_->address().port(); }

}  // namespace palisade::testing
