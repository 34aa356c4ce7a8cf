#include "proxy/caller/proxy_protocol.h"

#include <netinet/in.h>

#include <cstring>

namespace palisade::caller {
namespace {

constexpr char kSignature[12] = {'\r', '\n', '\r', '\n', '\0', '\r',
                                 '\n', 'Q',  'U',  'I',  'T',  '\n'};
constexpr unsigned char kVersion2Proxy = 0x21;
constexpr unsigned char kUnspec = 0x00;
constexpr unsigned char kTcp4 = 0x11;
constexpr unsigned char kTcp6 = 0x21;

void PutU16(std::string* out, size_t value) {
  out->push_back(static_cast<char>((value >> 8) & 0xff));
  out->push_back(static_cast<char>(value & 0xff));
}

void PutTlv(std::string* out, unsigned char type, const std::string& value) {
  out->push_back(static_cast<char>(type));
  PutU16(out, value.size());
  out->append(value);
}

// An address as the bytes of its family's block: 4 or 16, or none.
struct Ip {
  int family = AF_UNSPEC;
  unsigned char bytes[16] = {};
  uint16_t port = 0;  // host order
};

Ip IpOf(const net::SocketAddress& address) {
  Ip ip;
  if (address.family() == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address.sockaddr_ptr());
    ip.family = AF_INET;
    std::memcpy(ip.bytes, &in->sin_addr, 4);
    ip.port = ntohs(in->sin_port);
  } else if (address.family() == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address.sockaddr_ptr());
    ip.port = ntohs(in6->sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      ip.family = AF_INET;
      std::memcpy(ip.bytes, in6->sin6_addr.s6_addr + 12, 4);
    } else {
      ip.family = AF_INET6;
      std::memcpy(ip.bytes, in6->sin6_addr.s6_addr, 16);
    }
  }
  return ip;
}

}  // namespace

std::string EncodeProxyV2(const ProxyHeaderInfo& info) {
  const Ip source = IpOf(info.source);
  const Ip destination = IpOf(info.destination);
  std::string body;
  unsigned char family = kUnspec;
  if (source.family != AF_UNSPEC && source.family == destination.family) {
    const size_t n = source.family == AF_INET ? 4 : 16;
    family = source.family == AF_INET ? kTcp4 : kTcp6;
    body.append(reinterpret_cast<const char*>(source.bytes), n);
    body.append(reinterpret_cast<const char*>(destination.bytes), n);
    PutU16(&body, source.port);
    PutU16(&body, destination.port);
  }
  if (info.tls) {
    std::string ssl;
    unsigned char client = kPp2ClientSsl;
    if (info.certificate_verified) client |= info.resumed ? kPp2ClientCertSess : kPp2ClientCertConn;
    ssl.push_back(static_cast<char>(client));
    // verify: 0 means a certificate was presented and verified.
    const uint32_t verify = info.certificate_verified ? 0 : 1;
    for (int shift = 24; shift >= 0; shift -= 8) {
      ssl.push_back(static_cast<char>((verify >> shift) & 0xff));
    }
    if (!info.tls_version.empty()) PutTlv(&ssl, kPp2SubtypeSslVersion, info.tls_version);
    if (!info.common_name.empty()) PutTlv(&ssl, kPp2SubtypeSslCn, info.common_name);
    PutTlv(&body, kPp2TypeSsl, ssl);
  }
  if (!info.spiffe_id.empty()) PutTlv(&body, kPp2TypePalisadeSpiffeId, info.spiffe_id);

  std::string out(kSignature, sizeof(kSignature));
  out.push_back(static_cast<char>(kVersion2Proxy));
  out.push_back(static_cast<char>(family));
  PutU16(&out, body.size());
  out.append(body);
  return out;
}

}  // namespace palisade::caller
