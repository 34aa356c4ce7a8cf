#include "proxy/caller/proxy_protocol.h"

#include <string>

#include "gtest/gtest.h"

namespace palisade::caller {
namespace {

net::SocketAddress Addr(const char* text) { return *net::SocketAddress::Parse(text); }

std::string Bytes(std::initializer_list<int> bytes) {
  std::string out;
  for (int b : bytes) out.push_back(static_cast<char>(b));
  return out;
}

const std::string kSignature =
    Bytes({0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A});

TEST(ProxyProtocolTest, EncodesTcp4WithSslAndSpiffeTlvsByteForByte) {
  ProxyHeaderInfo info;
  info.source = Addr("127.0.0.66:40000");
  info.destination = Addr("127.0.0.1:15006");
  info.certificate_verified = true;
  info.tls_version = "TLSv1.3";
  info.spiffe_id = "spiffe://td/a";
  const std::string expected =
      kSignature + Bytes({0x21, 0x11, 0x00, 46}) +                            // v2 PROXY, TCP4, len
      Bytes({127, 0, 0, 66, 127, 0, 0, 1, 0x9C, 0x40, 0x3A, 0x9E}) +          // addresses, ports
      Bytes({0x20, 0x00, 15, 0x03, 0, 0, 0, 0, 0x21, 0x00, 7}) + "TLSv1.3" +  // PP2_TYPE_SSL
      Bytes({0xE0, 0x00, 13}) + "spiffe://td/a";
  EXPECT_EQ(EncodeProxyV2(info), expected);
}

TEST(ProxyProtocolTest, EncodesTcp6AndMarksAResumedSessionsCertificate) {
  ProxyHeaderInfo info;
  info.source = Addr("[::1]:1");
  info.destination = Addr("[::1]:2");
  info.certificate_verified = true;
  info.resumed = true;
  info.common_name = "dev";
  std::string loopback6(15, '\0');
  loopback6.push_back(1);
  const std::string expected = kSignature + Bytes({0x21, 0x21, 0x00, 50}) + loopback6 + loopback6 +
                               Bytes({0x00, 0x01, 0x00, 0x02}) +
                               Bytes({0x20, 0x00, 11, 0x05, 0, 0, 0, 0, 0x22, 0x00, 3}) + "dev";
  EXPECT_EQ(EncodeProxyV2(info), expected);
}

TEST(ProxyProtocolTest, SendsIpv4MappedAddressesAsTcp4) {
  ProxyHeaderInfo info;
  info.source = Addr("[::ffff:10.1.2.3]:80");
  info.destination = Addr("[::ffff:10.1.2.4]:81");
  info.tls = false;
  const std::string expected = kSignature + Bytes({0x21, 0x11, 0x00, 12}) +
                               Bytes({10, 1, 2, 3, 10, 1, 2, 4, 0x00, 80, 0x00, 81});
  EXPECT_EQ(EncodeProxyV2(info), expected);
}

TEST(ProxyProtocolTest, MixedFamiliesAreSentAsUnspecWithTlvsOnly) {
  ProxyHeaderInfo info;
  info.source = Addr("127.0.0.1:1");
  info.destination = Addr("[::1]:2");
  const std::string expected = kSignature + Bytes({0x21, 0x00, 0x00, 8}) +
                               Bytes({0x20, 0x00, 5, 0x01, 0, 0, 0, 1});  // not verified
  EXPECT_EQ(EncodeProxyV2(info), expected);
}

TEST(ProxyProtocolTest, LengthFieldCountsALongSpiffeId) {
  ProxyHeaderInfo info;
  info.source = Addr("127.0.0.1:1");
  info.destination = Addr("127.0.0.1:2");
  info.certificate_verified = true;
  info.spiffe_id = "spiffe://td/" + std::string(500, 'x');
  const std::string header = EncodeProxyV2(info);
  const size_t length =
      (static_cast<unsigned char>(header[14]) << 8) | static_cast<unsigned char>(header[15]);
  EXPECT_EQ(length, header.size() - 16);
  EXPECT_EQ(length, 12u + 8u + 3u + 512u);
}

}  // namespace
}  // namespace palisade::caller
