// Who may drive an admin endpoint, and from where: refuses what a web page in
// the operator's browser can send (cross-site requests, DNS rebinding) and,
// when a credential is set, requests that do not carry it.
#ifndef PALISADE_RUNTIME_HTTP_REQUEST_GUARD_H_
#define PALISADE_RUNTIME_HTTP_REQUEST_GUARD_H_

#include <optional>
#include <string>
#include <vector>

#include "runtime/http/http_server.h"
#include "runtime/net/socket_address.h"

namespace palisade::http {

struct RequestGuardOptions {
  // The address the server is bound to; its IP is a Host it may be called by.
  net::SocketAddress bound;
  // Further host names a Host header may carry (e.g. a name in /etc/hosts).
  std::vector<std::string> host_names;
  // When set, kCredential and kWrite routes need "Authorization: Bearer <it>".
  std::string bearer_token;
};

// What a route does, and so what it needs.
enum class Access {
  kRead,        // Host only: a rebound DNS name must not read it
  kCredential,  // Host and the credential (reads that list secrets or their inventory)
  kWrite,       // everything: Host, same origin, the credential, application/json
};

class RequestGuard {
 public:
  explicit RequestGuard(RequestGuardOptions options);

  // nullopt when `request` may go on to a route of `access`; else the answer:
  // 403 (Host, Origin, Sec-Fetch-Site), 401 (credential), 415 (Content-Type).
  std::optional<HttpResponse> Check(const HttpRequest& request, Access access) const;
  // `handler` behind Check().
  HttpServer::Handler Guard(Access access, HttpServer::Handler handler) const;

 private:
  bool HostAllowed(const std::string& host_header) const;

  RequestGuardOptions options_;
};

}  // namespace palisade::http

#endif  // PALISADE_RUNTIME_HTTP_REQUEST_GUARD_H_
