// A two-hop mesh on loopback for integration tests, from real processes:
//   client -> outbound proxy ("frontend") -> mTLS -> inbound proxy ("backend") -> echo server
// A thin layer over MeshFixture: certificates come from the test PKI and live
// in files the proxies watch.
#ifndef PALISADE_TESTS_INTEGRATION_PROXY_FIXTURE_H_
#define PALISADE_TESTS_INTEGRATION_PROXY_FIXTURE_H_

#include <gtest/gtest.h>

#include <string>

#include "tests/util/mesh_fixture.h"
#include "tests/util/prometheus_text.h"
#include "tests/util/proxy_yaml.h"
#include "tests/util/test_pki.h"

namespace palisade::testing {

inline constexpr char kTrustDomain[] = "cluster.local";
inline constexpr char kFrontendId[] = "spiffe://cluster.local/ns/shop/sa/frontend";
inline constexpr char kBackendId[] = "spiffe://cluster.local/ns/shop/sa/backend";

class TwoHopMesh : public ::testing::Test {
 protected:
  // Writes both SVIDs and starts the echo ("echo") and HTTP ("http") backends.
  void SetUp() override;

  const std::string& dir() const { return mesh_.dir(); }
  TestPki& pki() { return mesh_.pki(); }

  // A proxy with file identity `name` (files in dir()) and `workers_`.
  ProxyYaml IdentityConfig(const std::string& name, const std::string& spiffe_id) const;
  // The backend-side proxy: inbound "in" to the echo server, allowing the
  // frontend, and "in-http" to the HTTP server, allowing namespace shop.
  ProxyYaml InboundConfig() const;
  // Starts the backend-side proxy ("inbound"), waits until it is ready, and
  // notes the ports of "in" and "in-http" if it has them.
  void StartInbound() { StartInbound(InboundConfig()); }
  void StartInbound(const ProxyYaml& config);
  // Starts the frontend-side proxy ("outbound"): "out" to the inbound proxy,
  // expecting `expected_peer`, and "out-http" to its HTTP listener by name.
  void StartOutbound(const std::string& expected_peer = kBackendId);

  MeshFixture mesh_;
  int workers_ = 2;  // per proxy, set before Start*
  // The "out" listener's timeouts (empty: the defaults), set before StartOutbound.
  ProxyYaml::Timeouts outbound_timeouts_;
  EchoBackend* echo_ = nullptr;
  EchoBackend* http_ = nullptr;
  ProxyProcess* inbound_ = nullptr;
  ProxyProcess* outbound_ = nullptr;
  uint16_t inbound_port_ = 0;
  uint16_t inbound_http_port_ = 0;
  uint16_t outbound_port_ = 0;
  uint16_t outbound_http_port_ = 0;
};

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_INTEGRATION_PROXY_FIXTURE_H_
