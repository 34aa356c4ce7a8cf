// A two-hop mesh on loopback for integration tests, from real processes:
//   client -> outbound proxy ("frontend") -> mTLS -> inbound proxy ("backend") -> echo server
// Certificates come from the test PKI and live in files the proxies watch.
#ifndef PALISADE_TESTS_INTEGRATION_PROXY_FIXTURE_H_
#define PALISADE_TESTS_INTEGRATION_PROXY_FIXTURE_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tests/util/mesh_processes.h"
#include "tests/util/test_pki.h"

namespace palisade::testing {

inline constexpr char kTrustDomain[] = "cluster.local";
inline constexpr char kFrontendId[] = "spiffe://cluster.local/ns/shop/sa/frontend";
inline constexpr char kBackendId[] = "spiffe://cluster.local/ns/shop/sa/backend";

class TwoHopMesh : public ::testing::Test {
 protected:
  void SetUp() override;

  // The YAML of a proxy with file identity `name` (files in dir_).
  // `runtime_extra` adds lines to its runtime: section (2-space indented).
  std::string IdentityYaml(const std::string& name, const std::string& spiffe_id,
                           const std::string& runtime_extra = "") const;
  // Starts the backend-side proxy: inbound "in" to the echo server, and
  // "in-http" to the HTTP server.
  void StartInbound(const std::string& extra_yaml = "");
  // Starts the frontend-side proxy: outbound "out" to the inbound proxy,
  // expecting `expected_peer`, and "out-http".
  void StartOutbound(const std::string& expected_peer = kBackendId);

  int workers_ = 2;  // per proxy, set before Start*
  std::string dir_;
  TestPki pki_;
  std::unique_ptr<EchoServer> echo_;
  std::unique_ptr<EchoServer> http_;
  std::unique_ptr<ProxyProcess> inbound_;
  std::unique_ptr<ProxyProcess> outbound_;
  uint16_t inbound_port_ = 0;
  uint16_t inbound_http_port_ = 0;
  uint16_t outbound_port_ = 0;
  uint16_t outbound_http_port_ = 0;
};

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_INTEGRATION_PROXY_FIXTURE_H_
