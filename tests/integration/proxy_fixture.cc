#include "tests/integration/proxy_fixture.h"

#include <sys/resource.h>

#include "absl/strings/str_cat.h"
#include "tests/util/status_matchers.h"

namespace palisade::testing {

void TwoHopMesh::SetUp() {
  // Tests open many sockets; the default soft limit may be 1024.
  rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  mesh_.WriteSvid("frontend", "/ns/shop/sa/frontend");
  mesh_.WriteSvid("backend", "/ns/shop/sa/backend");
  ASSERT_OK_AND_ASSIGN(echo_, mesh_.StartBackend("echo", "echo"));
  ASSERT_OK_AND_ASSIGN(http_, mesh_.StartBackend("http", "http"));
}

ProxyYaml TwoHopMesh::IdentityConfig(const std::string& name, const std::string& id) const {
  ProxyYaml config = mesh_.FileIdentityConfig(name, id);
  config.runtime.workers = workers_;
  return config;
}

ProxyYaml TwoHopMesh::InboundConfig() const {
  ProxyYaml config = IdentityConfig("backend", kBackendId);
  config.AddInbound("in", echo_->address()).authorization.spiffe_ids = {kFrontendId};
  config.AddInbound("in-http", http_->address()).authorization.path_prefixes = {
      "spiffe://cluster.local/ns/shop/"};
  return config;
}

void TwoHopMesh::StartInbound(const ProxyYaml& config) {
  ASSERT_OK_AND_ASSIGN(inbound_, mesh_.StartReadyProxy("inbound", config));
  for (const ProxyYaml::Inbound& listener : config.inbound) {
    if (listener.name == "in") {
      ASSERT_OK_AND_ASSIGN(inbound_port_, inbound_->ListenerPort("in"));
    } else if (listener.name == "in-http") {
      ASSERT_OK_AND_ASSIGN(inbound_http_port_, inbound_->ListenerPort("in-http"));
    }
  }
}

void TwoHopMesh::StartOutbound(const std::string& expected_peer) {
  ProxyYaml config = IdentityConfig("frontend", kFrontendId);
  ProxyYaml::Outbound& out = config.AddOutbound("out", absl::StrCat("127.0.0.1:", inbound_port_));
  out.expected_peer.spiffe_id = expected_peer;
  out.timeouts = outbound_timeouts_;
  config.AddOutbound("out-http", absl::StrCat("localhost:", inbound_http_port_))
      .expected_peer.spiffe_id = kBackendId;
  ASSERT_OK_AND_ASSIGN(outbound_, mesh_.StartReadyProxy("outbound", config));
  ASSERT_OK_AND_ASSIGN(outbound_port_, outbound_->ListenerPort("out"));
  ASSERT_OK_AND_ASSIGN(outbound_http_port_, outbound_->ListenerPort("out-http"));
}

}  // namespace palisade::testing
