// An https:// URL taken apart (by http_parser's URL parser) into what a
// request needs: the host to dial and to check the certificate against,
// the port, and the request target.
#ifndef PALISADE_RUNTIME_HTTP_HTTPS_URL_H_
#define PALISADE_RUNTIME_HTTP_HTTPS_URL_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace palisade::http {

struct HttpsUrl {
  std::string host;  // a DNS name or an IP literal (IPv6 without brackets)
  uint16_t port = 443;
  std::string target;  // path and query: "/openid/v1/jwks"
  // For a Host header: "host", "host:port", "[::1]:port".
  std::string Authority() const;
  // The scheme and authority: "https://host[:port]".
  std::string Origin() const;
};

// InvalidArgument saying what is wrong: not a URL, a scheme other than
// https (plain http is refused: what it carries could be changed on the
// way), user info, a fragment, no host.
absl::StatusOr<HttpsUrl> ParseHttpsUrl(absl::string_view url);

}  // namespace palisade::http

#endif  // PALISADE_RUNTIME_HTTP_HTTPS_URL_H_
