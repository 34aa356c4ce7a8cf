// A device gateway on loopback for integration tests: a palisade-proxy with
// a mesh SVID whose inbound listeners are gateways for clients outside the
// mesh, a separate "device CA" (no SPIFFE) issuing DNS-SAN client
// certificates, a CRL file, echo and HTTP apps behind it, and a blocking
// BoringSSL client for connections that stay open across a reload.
#ifndef PALISADE_TESTS_INTEGRATION_GATEWAY_FIXTURE_H_
#define PALISADE_TESTS_INTEGRATION_GATEWAY_FIXTURE_H_

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/util/mesh_fixture.h"
#include "tests/util/subprocess.h"
#include "tests/util/test_pki.h"

namespace palisade::testing {

inline constexpr char kGatewayId[] = "spiffe://cluster.local/ns/edge/sa/gateway";
inline constexpr char kDeviceWildcard[] = "*.devices.example.com";

// One TLS connection to the gateway, blocking, from the test process.
class DeviceConnection {
 public:
  // Connects and handshakes with <dir>/<name>.pem and .key (TLS 1.2 or 1.3);
  // nullptr when either fails.
  static std::unique_ptr<DeviceConnection> Open(uint16_t port, const std::string& dir,
                                                const std::string& name);
  ~DeviceConnection();
  // Writes `line` and reads until as many bytes came back (the echo app).
  bool Echo(const std::string& line);

 private:
  DeviceConnection() = default;
  int fd_ = -1;
  bssl::UniquePtr<SSL_CTX> ctx_;
  bssl::UniquePtr<SSL> ssl_;
};

// curl's --pinnedpubkey for the gateway's SVID in `pem_file`: devices pin
// the gateway's key, since its SVID names a SPIFFE ID and no host name.
std::string GatewayKeyPin(const std::string& pem_file);

class GatewayTest : public ::testing::Test {
 protected:
  // The device CA, its CRL (revoking nobody), device certificates, the mesh
  // SVID of the gateway, and the echo ("echo") and HTTP ("http") apps.
  void SetUp() override;

  const std::string& dir() const { return mesh_.dir(); }
  // A device certificate <dir>/<name>.pem/.key with DNS SAN `dns` from the
  // device CA (or `ca`); returns the leaf (e.g. to revoke it).
  bssl::UniquePtr<X509> WriteDevice(const std::string& name, const std::string& dns,
                                    const TestPki* ca = nullptr);
  // The gateway listener `name` to `forward_to`: trust store
  // trust/device-ca.pem, CRL trust/devices.crl, allowing *.devices.example.com.
  ProxyYaml::Inbound& AddGateway(ProxyYaml& config, const std::string& name,
                                 const std::string& forward_to);
  ProxyYaml GatewayConfig() const { return mesh_.FileIdentityConfig("gateway", kGatewayId); }
  // Starts the gateway proxy and notes the listeners' ports.
  void StartGateway(const ProxyYaml& config);
  uint16_t Port(const std::string& listener);

  // openssl s_client with <dir>/<cert>.pem (none when empty) to `port`;
  // sends `input` and returns what came back.
  CommandResult SClient(uint16_t port, const std::string& cert, const std::string& input,
                        std::vector<std::string> extra = {});
  double Failures(const std::string& listener, const std::string& reason);
  // Replaces <dir>/trust/<file> atomically (write, then rename).
  void Replace(const std::string& file, const std::string& contents);

  MeshFixture mesh_;
  TestPki devices_{{.trust_domain = "devices", .now = absl::Now(), .with_intermediate = false}};
  ProxyProcess* gateway_ = nullptr;
  EchoBackend* echo_ = nullptr;
  EchoBackend* http_ = nullptr;
  bssl::UniquePtr<X509> sensor_;  // sensor-1's leaf
  std::string trust_dir_;         // the gateway's trust store and CRL files
};

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_INTEGRATION_GATEWAY_FIXTURE_H_
