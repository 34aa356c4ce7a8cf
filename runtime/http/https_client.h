// A small blocking HTTPS client for the few requests the control plane makes
// itself (the service-account issuer's discovery document and keys): one
// request per connection, TLS by the runtime's BoringSSL code, the server
// judged against a CA file and the URL's host, the whole exchange bounded by
// a timeout and the response by a size cap, parsed by http_parser. Blocking:
// call it from a thread of its own, never from an event loop or gRPC thread.
#ifndef PALISADE_RUNTIME_HTTP_HTTPS_CLIENT_H_
#define PALISADE_RUNTIME_HTTP_HTTPS_CLIENT_H_

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/verify/server_name_verifier.h"

namespace palisade::http {

struct HttpsRequest {
  std::string method = "GET";
  std::string url;  // https:// only
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // sent with Content-Length when not empty
};

struct HttpsResponse {
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case
};

// Thread-safe: Fetch may run on several threads at once.
class HttpsClient {
 public:
  struct Options {
    absl::Duration timeout = absl::Seconds(10);  // connect + handshake + response
    size_t max_response_bytes = 1 << 20;         // the body
    // When set, the server must present an X.509-SVID of this SPIFFE ID
    // (chaining to `roots`) instead of a certificate naming the URL's host:
    // the https_spiffe profile of a SPIFFE bundle endpoint.
    std::string expected_spiffe_id;
  };
  // `roots` verify every server.
  static absl::StatusOr<std::unique_ptr<HttpsClient>> Create(
      std::shared_ptr<const verify::ServerRoots> roots, Options options);

  // Any response the server completes, whatever its status. Errors name the
  // URL's origin: InvalidArgument (a bad URL or a malformed response),
  // Unavailable (name lookup, connect, I/O), DeadlineExceeded (the timeout),
  // Unauthenticated (the TLS handshake failed or the server's certificate did
  // not verify), ResourceExhausted (the body is over the cap).
  absl::StatusOr<HttpsResponse> Fetch(const HttpsRequest& request) const;

 private:
  HttpsClient(std::shared_ptr<const verify::ServerRoots> roots, Options options,
              bssl::UniquePtr<SSL_CTX> context)
      : roots_(std::move(roots)), options_(options), context_(std::move(context)) {}

  const std::shared_ptr<const verify::ServerRoots> roots_;
  const Options options_;
  const bssl::UniquePtr<SSL_CTX> context_;
};

}  // namespace palisade::http

#endif  // PALISADE_RUNTIME_HTTP_HTTPS_CLIENT_H_
