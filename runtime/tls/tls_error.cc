#include "runtime/tls/tls_error.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace palisade::tls {

const char* ReasonForSslError(uint32_t packed_error) {
  if (ERR_GET_LIB(packed_error) != ERR_LIB_SSL) return "tls_error";
  switch (ERR_GET_REASON(packed_error)) {
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
      return "no_certificate";
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_SHARED_GROUP:
      return "no_shared_cipher";
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
      return "protocol_version";
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
      return "not_tls";
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
      return "untrusted_chain";
    // The peer refused what we presented.
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
    case SSL_R_TLSV1_ALERT_CERTIFICATE_REQUIRED:
      return "peer_rejected_certificate";
    case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
      return "peer_handshake_failure";
    default:
      return "tls_error";
  }
}

std::vector<std::string> KnownSslErrorReasons() {
  // SSL reason codes stay below 1200 (alerts are 1000 + the alert number).
  constexpr int kMaxSslReason = 1300;
  std::vector<std::string> known = {ReasonForSslError(0)};
  for (int reason = 1; reason < kMaxSslReason; ++reason) {
    const std::string code = ReasonForSslError(ERR_PACK(ERR_LIB_SSL, reason));
    if (std::find(known.begin(), known.end(), code) == known.end()) known.push_back(code);
  }
  return known;
}

uint32_t DrainErrorQueue(std::string* detail) {
  uint32_t first = 0;
  detail->clear();
  while (const uint32_t e = ERR_get_error()) {
    if (first == 0) first = e;
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!detail->empty()) detail->append("; ");
    detail->append(buf);
  }
  return first;
}

absl::Status SslFailure(absl::string_view what) {
  std::string detail;
  DrainErrorQueue(&detail);
  return absl::InvalidArgumentError(absl::StrCat(what, ": ", detail));
}

}  // namespace palisade::tls
