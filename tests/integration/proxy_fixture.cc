#include "tests/integration/proxy_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace palisade::testing {

void TwoHopMesh::SetUp() {
  // Tests open many sockets; the default soft limit may be 1024.
  rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  dir_ = MakeTempDir("mesh");
  TestPki::Options options;
  options.trust_domain = kTrustDomain;
  pki_ = TestPki(options);
  pki_.WriteFiles(dir_, "frontend", pki_.IssueLeaf("/ns/shop/sa/frontend"));
  pki_.WriteFiles(dir_, "backend", pki_.IssueLeaf("/ns/shop/sa/backend"));
  auto echo = EchoServer::Start(dir_, "echo", "echo");
  ASSERT_TRUE(echo.ok()) << echo.status();
  echo_ = *std::move(echo);
  auto http = EchoServer::Start(dir_, "http", "http");
  ASSERT_TRUE(http.ok()) << http.status();
  http_ = *std::move(http);
}

std::string TwoHopMesh::IdentityYaml(const std::string& name, const std::string& id,
                                     const std::string& runtime_extra) const {
  return absl::StrCat(R"(identity:
  spiffe_id: ")",
                      id, R"("
  files:
    certificate_chain_file: )",
                      dir_, "/", name, R"(.pem
    private_key_file: )",
                      dir_, "/", name, R"(.key
    trust_bundles:
      - trust_domain: cluster.local
        file: )",
                      dir_, R"(/bundle.pem
admin:
  address: 127.0.0.1:0
runtime:
  workers: )",
                      workers_, R"(
  drain_timeout: 5s
)",
                      runtime_extra, R"(logging:
  level: debug
)");
}

void TwoHopMesh::StartInbound(const std::string& extra_yaml) {
  const std::string yaml = absl::StrCat(IdentityYaml("backend", kBackendId), R"(inbound:
  - name: in
    address: 127.0.0.1:0
    forward_to: )",
                                        echo_->address(), R"(
    authorization:
      spiffe_ids: [")",
                                        kFrontendId, R"("]
  - name: in-http
    address: 127.0.0.1:0
    forward_to: )",
                                        http_->address(), R"(
    authorization:
      path_prefixes: ["spiffe://cluster.local/ns/shop/"]
)",
                                        extra_yaml);
  auto proxy = ProxyProcess::Start(dir_, "inbound", yaml);
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  inbound_ = *std::move(proxy);
  ASSERT_TRUE(inbound_->WaitReady()) << inbound_->process().Output();
  inbound_port_ = *inbound_->ListenerPort("in");
  inbound_http_port_ = *inbound_->ListenerPort("in-http");
}

void TwoHopMesh::StartOutbound(const std::string& expected_peer) {
  const std::string yaml = absl::StrCat(IdentityYaml("frontend", kFrontendId), R"(outbound:
  - name: out
    address: 127.0.0.1:0
    upstream: 127.0.0.1:)",
                                        inbound_port_, R"(
    expected_peer:
      spiffe_id: ")",
                                        expected_peer, R"("
  - name: out-http
    address: 127.0.0.1:0
    upstream: localhost:)",
                                        inbound_http_port_, R"(
    expected_peer:
      spiffe_id: ")",
                                        kBackendId, R"("
)");
  auto proxy = ProxyProcess::Start(dir_, "outbound", yaml);
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  outbound_ = *std::move(proxy);
  ASSERT_TRUE(outbound_->WaitReady()) << outbound_->process().Output();
  outbound_port_ = *outbound_->ListenerPort("out");
  outbound_http_port_ = *outbound_->ListenerPort("out-http");
}

}  // namespace palisade::testing
