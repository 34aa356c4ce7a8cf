// The CLI's side of the admin API: one blocking HTTP/1.1 request to a
// loopback address, with a timeout. No TLS: the admin API is loopback-only.
#ifndef PALISADE_CONTROL_ADMIN_ADMIN_CLIENT_H_
#define PALISADE_CONTROL_ADMIN_ADMIN_CLIENT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace palisade::control::admin {

struct AdminResponse {
  int status = 0;
  std::string body;
};

// `address` is "ip:port". Unavailable when nothing answers there. The body
// goes as application/json; a non-empty `bearer_token` (the admin
// credential, see admin_token.h) as "Authorization: Bearer".
absl::StatusOr<AdminResponse> AdminRequest(const std::string& address, const std::string& method,
                                           const std::string& path, const std::string& body = "",
                                           const std::string& bearer_token = "",
                                           absl::Duration timeout = absl::Seconds(10));

}  // namespace palisade::control::admin

#endif  // PALISADE_CONTROL_ADMIN_ADMIN_CLIENT_H_
