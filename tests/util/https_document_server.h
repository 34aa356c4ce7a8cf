// HTTPS on loopback for test fakes that serve documents (a SPIFFE bundle
// endpoint, an OIDC issuer): the runtime's TLS terminator in front of the
// runtime's HTTP server on 127.0.0.1, the presented leaf replaceable at any
// time. The owner registers its routes, then calls Start().
#ifndef PALISADE_TESTS_UTIL_HTTPS_DOCUMENT_SERVER_H_
#define PALISADE_TESTS_UTIL_HTTPS_DOCUMENT_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "runtime/http/http_server.h"
#include "runtime/tls/tls_terminator.h"
#include "tests/util/test_pki.h"

namespace palisade::testing {

class HttpsDocumentServer {
 public:
  // `name` names the TLS thread and prefixes abort messages.
  explicit HttpsDocumentServer(std::string name);
  ~HttpsDocumentServer();

  // Before Start().
  void Route(const std::string& method, const std::string& path, http::HttpServer::Handler handler);
  // Starts both halves, presenting a leaf issued by `pki` for `spec`.
  // Aborts the test binary on failure.
  void Start(const TestPki& pki, const CertSpec& spec);
  // Presents a leaf issued by `pki` for `spec` from now on (after Start()).
  void ServeLeaf(const TestPki& pki, const CertSpec& spec);
  // The HTTPS port; meaningful after Start().
  uint16_t port() const;

 private:
  [[noreturn]] void Die(const std::string& what) const;

  const std::string name_;
  http::HttpServer http_;
  std::unique_ptr<tls::TlsTerminator> https_;
};

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_UTIL_HTTPS_DOCUMENT_SERVER_H_
