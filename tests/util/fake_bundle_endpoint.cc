#include "tests/util/fake_bundle_endpoint.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "tests/util/tls_test_support.h"

namespace palisade::testing {
namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "fake_bundle_endpoint: %s\n", what.c_str());
  std::abort();
}

}  // namespace

FakeBundleEndpoint::FakeBundleEndpoint(const TestPki& pki, const std::string& spiffe_id) {
  http_.Route("GET", "/", [this](const http::HttpRequest&) {
    sync::MutexLock lock(&mu_);
    ++requests_;
    return http::HttpResponse{status_, "application/json", body_};
  });
  if (absl::Status s = http_.Start(*net::SocketAddress::Parse("127.0.0.1:0")); !s.ok()) {
    Die(s.ToString());
  }
  tls::TlsTerminator::Options https;
  https.listen = *net::SocketAddress::Parse("127.0.0.1:0");
  https.backend = http_.address();
  https.client_certificates = tls::PeerCertificates::kNotRequested;
  https.thread_name = "fake-bundles";
  absl::StatusOr<std::unique_ptr<tls::TlsTerminator>> created =
      tls::TlsTerminator::Create(std::move(https), {});
  if (!created.ok()) Die(created.status().ToString());
  https_ = *std::move(created);
  ServeSvid(pki, spiffe_id);
  if (absl::Status s = https_->Start(); !s.ok()) Die(s.ToString());
  url_ = absl::StrCat("https://127.0.0.1:", https_->address().port(), "/");
}

FakeBundleEndpoint::~FakeBundleEndpoint() {
  https_->Stop();  // its connections reach http_: it goes first
}

void FakeBundleEndpoint::SetDocument(int status, std::string body) {
  sync::MutexLock lock(&mu_);
  status_ = status;
  body_ = std::move(body);
}

void FakeBundleEndpoint::ServeSvid(const TestPki& pki, const std::string& spiffe_id) {
  CertSpec spec = pki.LeafSpec("");
  spec.uri_sans = {spiffe_id};
  const Credential leaf = pki.IssueLeaf(spec);
  auto credentials = std::make_shared<tls::TlsTerminator::Credentials>();
  credentials->context = ServerContext(pki, leaf, tls::PeerCertificates::kNotRequested);
  https_->SetCredentials(std::move(credentials));
}

int FakeBundleEndpoint::requests() const {
  sync::MutexLock lock(&mu_);
  return requests_;
}

}  // namespace palisade::testing
