#include "runtime/tls/server_check.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/time/clock.h"

namespace palisade::tls {

ssl_verify_result_t ServerCheck::VerifyPeer(SSL* ssl, uint8_t* out_alert) {
  verdict_ = spiffe_id_.empty()
                 ? verify::VerifyServerName(ssl, roots_, host_, absl::Now())
                 : verify::VerifyServerSpiffeId(ssl, roots_, spiffe_id_, absl::Now());
  if (verdict_.ok()) return ssl_verify_ok;
  *out_alert = SSL_AD_BAD_CERTIFICATE;
  return ssl_verify_invalid;
}

void SetServerNameIndication(SSL* ssl, const std::string& host) {
  const bool ip_literal = absl::StrContains(host, ':') ||
                          std::all_of(host.begin(), host.end(),
                                      [](char c) { return c == '.' || (c >= '0' && c <= '9'); });
  if (!ip_literal) SSL_set_tlsext_host_name(ssl, host.c_str());
}

}  // namespace palisade::tls
