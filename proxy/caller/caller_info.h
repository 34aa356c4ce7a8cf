// What the app is told about the caller, read from the connection's TLS state
// once the handshake has verified the peer: whichever listener kind verified
// it (mesh inbound or a gateway), the certificate is the source.
#ifndef PALISADE_PROXY_CALLER_CALLER_INFO_H_
#define PALISADE_PROXY_CALLER_CALLER_INFO_H_

#include <openssl/ssl.h>

#include <string>

#include "absl/strings/string_view.h"

namespace palisade::caller {

struct CallerInfo {
  bool certificate_verified = false;
  std::string tls_version;  // "TLSv1.3"
  std::string common_name;  // subject CN, UTF-8; empty when none
  std::string subject;      // RFC 2253 ("CN=dev,O=Acme")
  std::string uri;          // the peer's identity: its SPIFFE ID, else its first URI SAN
  std::string dns;          // a gateway client named by its DNS SAN (identity_from: dns_san)
  std::string leaf_sha256;  // lowercase hex of SHA-256 over the leaf's DER
};

// `verified_id` is the identity the handshake verified (the peer's SPIFFE
// ID), empty when the verifier names none; `ssl` a completed server-side SSL.
CallerInfo ReadCallerInfo(const SSL* ssl, const std::string& verified_id);

// A gateway listener names its client as configured (identity_from): the
// verified identity replaces what ReadCallerInfo guessed, so the app is told
// the name the listener authorized and no SAN it did not check.
void UseGatewayIdentity(absl::string_view identity_from, const std::string& identity,
                        CallerInfo* caller);

// The x-forwarded-client-cert style value (Envoy's element names):
//   By=<our SPIFFE ID>;Hash=<leaf sha256 hex>;URI=<peer identity>
// a gateway client named by DNS SAN gets DNS=<name>, and a peer without a
// URI gets Subject="<RFC 2253 subject>", with '"' and '\' escaped by '\'.
// Elements with nothing to say are left out.
std::string FormatForwardedClientCert(const std::string& our_id, const CallerInfo& caller);

}  // namespace palisade::caller

#endif  // PALISADE_PROXY_CALLER_CALLER_INFO_H_
