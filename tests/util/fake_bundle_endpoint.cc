#include "tests/util/fake_bundle_endpoint.h"

#include "absl/strings/str_cat.h"
#include "runtime/http/http_server.h"

namespace palisade::testing {
namespace {

CertSpec SvidSpec(const TestPki& pki, const std::string& spiffe_id) {
  CertSpec spec = pki.LeafSpec("");
  spec.uri_sans = {spiffe_id};
  return spec;
}

}  // namespace

FakeBundleEndpoint::FakeBundleEndpoint(const TestPki& pki, const std::string& spiffe_id) {
  server_.Route("GET", "/", [this](const http::HttpRequest&) {
    sync::MutexLock lock(&mu_);
    ++requests_;
    return http::HttpResponse{status_, "application/json", body_};
  });
  server_.Start(pki, SvidSpec(pki, spiffe_id));
  url_ = absl::StrCat("https://127.0.0.1:", server_.port(), "/");
}

FakeBundleEndpoint::~FakeBundleEndpoint() = default;

void FakeBundleEndpoint::SetDocument(int status, std::string body) {
  sync::MutexLock lock(&mu_);
  status_ = status;
  body_ = std::move(body);
}

void FakeBundleEndpoint::ServeSvid(const TestPki& pki, const std::string& spiffe_id) {
  server_.ServeLeaf(pki, SvidSpec(pki, spiffe_id));
}

int FakeBundleEndpoint::requests() const {
  sync::MutexLock lock(&mu_);
  return requests_;
}

}  // namespace palisade::testing
