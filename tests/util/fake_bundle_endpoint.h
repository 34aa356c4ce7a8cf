// A foreign trust domain's SPIFFE bundle endpoint for tests (the https_spiffe
// profile): HTTPS on loopback (the runtime's TLS terminator in front of the
// runtime's HTTP server) presenting an SVID of that domain, serving one
// document at "/"; the document, its status and the SVID settable at any
// time (a rotation, a broken document, an impostor), requests counted.
#ifndef PALISADE_TESTS_UTIL_FAKE_BUNDLE_ENDPOINT_H_
#define PALISADE_TESTS_UTIL_FAKE_BUNDLE_ENDPOINT_H_

#include <string>

#include "absl/base/thread_annotations.h"
#include "runtime/sync/mutex.h"
#include "tests/util/https_document_server.h"
#include "tests/util/test_pki.h"

namespace palisade::testing {

class FakeBundleEndpoint {
 public:
  // Serves https://127.0.0.1:PORT/ with a leaf for `spiffe_id` from `pki`.
  // Aborts the test binary on failure.
  FakeBundleEndpoint(const TestPki& pki, const std::string& spiffe_id);
  ~FakeBundleEndpoint();

  const std::string& url() const { return url_; }
  // What "/" answers from now on (any thread).
  void SetDocument(int status, std::string body) ABSL_LOCKS_EXCLUDED(mu_);
  // Presents a leaf for `spiffe_id` from `pki` from now on.
  void ServeSvid(const TestPki& pki, const std::string& spiffe_id);
  int requests() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable sync::Mutex mu_;
  int status_ ABSL_GUARDED_BY(mu_) = 503;
  std::string body_ ABSL_GUARDED_BY(mu_);
  int requests_ ABSL_GUARDED_BY(mu_) = 0;
  std::string url_;
  HttpsDocumentServer server_{"fake-bundles"};  // last: its routes use the fields above
};

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_UTIL_FAKE_BUNDLE_ENDPOINT_H_
