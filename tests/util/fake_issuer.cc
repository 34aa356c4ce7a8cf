#include "tests/util/fake_issuer.h"

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "tests/util/tls_test_support.h"

namespace palisade::testing {
namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "fake_issuer: %s\n", what.c_str());
  std::abort();
}

}  // namespace

FakeIssuer::FakeIssuer(const std::string& dir, std::string jwks)
    : pki_(TestPki::Options{.trust_domain = "issuer.test"}),
      stranger_(TestPki::Options{.trust_domain = "stranger.test"}) {
  {
    sync::MutexLock lock(&mu_);
    jwks_.body = std::move(jwks);
  }
  http_.Route("GET", kDiscoveryPath, [this](const http::HttpRequest& request) {
    return Serve(request, &discovery_, &discovery_requests_);
  });
  http_.Route("GET", kJwksPath, [this](const http::HttpRequest& request) {
    return Serve(request, &jwks_, &jwks_requests_);
  });
  if (absl::Status s = http_.Start(*net::SocketAddress::Parse("127.0.0.1:0")); !s.ok()) {
    Die(s.ToString());
  }
  tls::TlsTerminator::Options https;
  https.listen = *net::SocketAddress::Parse("127.0.0.1:0");
  https.backend = http_.address();
  https.client_certificates = tls::PeerCertificates::kNotRequested;
  https.thread_name = "fake-issuer";
  absl::StatusOr<std::unique_ptr<tls::TlsTerminator>> created =
      tls::TlsTerminator::Create(std::move(https), {});
  if (!created.ok()) Die(created.status().ToString());
  https_ = *std::move(created);
  ServeCertificate("localhost", /*trusted=*/true);
  if (absl::Status s = https_->Start(); !s.ok()) Die(s.ToString());
  issuer_ = absl::StrCat("https://localhost:", https_->address().port());
  {
    sync::MutexLock lock(&mu_);
    discovery_.body = DiscoveryJson();
  }
  ca_file_ = dir + "/issuer-ca.pem";
  WriteFileOrDie(ca_file_, pki_.BundlePem());
}

FakeIssuer::~FakeIssuer() {
  https_->Stop();  // its connections reach http_: it goes first
}

std::string FakeIssuer::DiscoveryJson() const {
  return nlohmann::json{{"issuer", issuer_},
                        {"jwks_uri", issuer_ + kJwksPath},
                        {"response_types_supported", {"id_token"}},
                        {"subject_types_supported", {"public"}},
                        {"id_token_signing_alg_values_supported", {"RS256"}}}
      .dump();
}

void FakeIssuer::SetDiscovery(int status, std::string body) {
  sync::MutexLock lock(&mu_);
  discovery_ = {status, std::move(body)};
}

void FakeIssuer::SetJwks(int status, std::string body) {
  sync::MutexLock lock(&mu_);
  jwks_ = {status, std::move(body)};
}

void FakeIssuer::ServeCertificate(const std::string& dns_name, bool trusted) {
  const TestPki& pki = trusted ? pki_ : stranger_;
  CertSpec spec = pki.LeafSpec("");
  spec.uri_sans.clear();
  spec.dns_sans = {dns_name};
  const Credential leaf = pki.IssueLeaf(spec);
  auto credentials = std::make_shared<tls::TlsTerminator::Credentials>();
  credentials->context = ServerContext(pki, leaf, tls::PeerCertificates::kNotRequested);
  https_->SetCredentials(std::move(credentials));
}

int FakeIssuer::discovery_requests() const {
  sync::MutexLock lock(&mu_);
  return discovery_requests_;
}

int FakeIssuer::jwks_requests() const {
  sync::MutexLock lock(&mu_);
  return jwks_requests_;
}

std::vector<std::string> FakeIssuer::authorizations() const {
  sync::MutexLock lock(&mu_);
  return authorizations_;
}

http::HttpResponse FakeIssuer::Serve(const http::HttpRequest& request, Answer* answer, int* count) {
  sync::MutexLock lock(&mu_);
  ++*count;
  for (const std::string& value : request.HeaderValues("authorization")) {
    authorizations_.push_back(value);
  }
  return http::HttpResponse{answer->status, "application/json", answer->body};
}

}  // namespace palisade::testing
