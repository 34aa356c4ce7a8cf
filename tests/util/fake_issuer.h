// A stand-in for the Kubernetes API server's service-account issuer
// endpoints, for tests: HTTPS on loopback (the runtime's TLS terminator in
// front of the runtime's HTTP server) serving
// /.well-known/openid-configuration and /openid/v1/jwks, answers settable at
// any time (a key rotation, a broken document, an outage), requests counted.
#ifndef PALISADE_TESTS_UTIL_FAKE_ISSUER_H_
#define PALISADE_TESTS_UTIL_FAKE_ISSUER_H_

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "runtime/http/http_server.h"
#include "runtime/sync/mutex.h"
#include "tests/util/https_document_server.h"
#include "tests/util/test_pki.h"

namespace palisade::testing {

class FakeIssuer {
 public:
  // Serves https://localhost:PORT with a certificate for "localhost" under
  // its own CA, whose root it writes to <dir>/issuer-ca.pem. The discovery
  // document names this issuer and its JWKS path; the JWKS is `jwks`.
  // Aborts the test binary on failure.
  FakeIssuer(const std::string& dir, std::string jwks);
  ~FakeIssuer();

  static constexpr char kDiscoveryPath[] = "/.well-known/openid-configuration";
  static constexpr char kJwksPath[] = "/openid/v1/jwks";

  const std::string& issuer() const { return issuer_; }  // https://localhost:PORT
  const std::string& ca_file() const { return ca_file_; }
  // {"issuer": issuer(), "jwks_uri": issuer() + kJwksPath, ...}.
  std::string DiscoveryJson() const;

  // What each endpoint answers from now on (any thread).
  void SetDiscovery(int status, std::string body) ABSL_LOCKS_EXCLUDED(mu_);
  void SetJwks(int status, std::string body) ABSL_LOCKS_EXCLUDED(mu_);
  // Serves a certificate for `dns_name`, from this issuer's CA or (when
  // `trusted` is false) from a CA nobody was given.
  void ServeCertificate(const std::string& dns_name, bool trusted);

  int discovery_requests() const ABSL_LOCKS_EXCLUDED(mu_);
  int jwks_requests() const ABSL_LOCKS_EXCLUDED(mu_);
  // Every Authorization header received, in order.
  std::vector<std::string> authorizations() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Answer {
    int status = 200;
    std::string body;
  };
  http::HttpResponse Serve(const http::HttpRequest& request, Answer* answer, int* count)
      ABSL_LOCKS_EXCLUDED(mu_);

  TestPki pki_;
  TestPki stranger_;
  std::string issuer_;
  std::string ca_file_;
  mutable sync::Mutex mu_;
  Answer discovery_ ABSL_GUARDED_BY(mu_);
  Answer jwks_ ABSL_GUARDED_BY(mu_);
  int discovery_requests_ ABSL_GUARDED_BY(mu_) = 0;
  int jwks_requests_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> authorizations_ ABSL_GUARDED_BY(mu_);
  HttpsDocumentServer server_{"fake-issuer"};  // last: its routes use the fields above
};

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_UTIL_FAKE_ISSUER_H_
