// The PROXY protocol version 2 header (haproxy's proxy-protocol.txt, 2.2):
// the original client's address and what the TLS handshake proved about it,
// written to the app before the first byte of the connection.
#ifndef PALISADE_PROXY_CALLER_PROXY_PROTOCOL_H_
#define PALISADE_PROXY_CALLER_PROXY_PROTOCOL_H_

#include <string>

#include "runtime/net/socket_address.h"

namespace palisade::caller {

// The TLV types written. 0xE0 is the first of the range the specification
// leaves to applications ("PP2_TYPE_MIN_CUSTOM"); Palisade puts the peer's
// SPIFFE ID (its URI SAN) there.
inline constexpr unsigned char kPp2TypeSsl = 0x20;
inline constexpr unsigned char kPp2SubtypeSslVersion = 0x21;
inline constexpr unsigned char kPp2SubtypeSslCn = 0x22;
inline constexpr unsigned char kPp2TypePalisadeSpiffeId = 0xE0;

// PP2_TYPE_SSL's client field.
inline constexpr unsigned char kPp2ClientSsl = 0x01;
inline constexpr unsigned char kPp2ClientCertConn = 0x02;  // certificate sent on this connection
inline constexpr unsigned char kPp2ClientCertSess = 0x04;  // ... in the resumed session

struct ProxyHeaderInfo {
  net::SocketAddress source;       // the client
  net::SocketAddress destination;  // the address it connected to
  bool tls = true;
  bool certificate_verified = false;
  bool resumed = false;     // the certificate came with a resumed session
  std::string tls_version;  // "TLSv1.3"; omitted when empty
  std::string common_name;  // subject CN; omitted when empty
  std::string spiffe_id;    // URI SAN; omitted when empty
};

// The complete header. Addresses of different families, or not TCP over
// IPv4/IPv6, are sent as AF_UNSPEC (no address block), as the
// specification asks; an IPv4-mapped IPv6 address is sent as IPv4.
std::string EncodeProxyV2(const ProxyHeaderInfo& info);

}  // namespace palisade::caller

#endif  // PALISADE_PROXY_CALLER_PROXY_PROTOCOL_H_
