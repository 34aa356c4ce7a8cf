#include "tests/util/fake_issuer.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace palisade::testing {
namespace {

CertSpec LocalhostSpec(const TestPki& pki, const std::string& dns_name) {
  CertSpec spec = pki.LeafSpec("");
  spec.uri_sans.clear();
  spec.dns_sans = {dns_name};
  return spec;
}

}  // namespace

FakeIssuer::FakeIssuer(const std::string& dir, std::string jwks)
    : pki_(TestPki::Options{.trust_domain = "issuer.test"}),
      stranger_(TestPki::Options{.trust_domain = "stranger.test"}) {
  {
    sync::MutexLock lock(&mu_);
    jwks_.body = std::move(jwks);
  }
  server_.Route("GET", kDiscoveryPath, [this](const http::HttpRequest& request) {
    return Serve(request, &discovery_, &discovery_requests_);
  });
  server_.Route("GET", kJwksPath, [this](const http::HttpRequest& request) {
    return Serve(request, &jwks_, &jwks_requests_);
  });
  server_.Start(pki_, LocalhostSpec(pki_, "localhost"));
  issuer_ = absl::StrCat("https://localhost:", server_.port());
  {
    sync::MutexLock lock(&mu_);
    discovery_.body = DiscoveryJson();
  }
  ca_file_ = dir + "/issuer-ca.pem";
  WriteFileOrDie(ca_file_, pki_.BundlePem());
}

FakeIssuer::~FakeIssuer() = default;

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
  server_.ServeLeaf(pki, LocalhostSpec(pki, dns_name));
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
