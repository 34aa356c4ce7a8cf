// The access log of a proxy that logs JSON lines: one line per connection at
// its end with the fields operators need, for a good connection and for ones
// the inbound proxy refused; and never any private key material.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/integration/observability_support.h"
#include "tests/integration/proxy_fixture.h"

namespace palisade::testing {
namespace {

constexpr char kIntruderId[] = "spiffe://cluster.local/ns/other/sa/intruder";

class ObservabilityAccessLogTest : public TwoHopMesh {
 protected:
  void SetUp() override {
    TwoHopMesh::SetUp();
    ProxyYaml config = IdentityConfig("backend", kBackendId);
    config.logging.format = "json";
    config.AddInbound("in", echo_->address()).authorization.spiffe_ids = {kFrontendId};
    StartInbound(config);
  }

  // Every line the proxy wrote, each parsed as JSON (discarded if not).
  std::vector<nlohmann::json> Lines() {
    std::vector<nlohmann::json> lines;
    for (absl::string_view line : absl::StrSplit(inbound_->process().Output(), '\n')) {
      if (!line.empty()) lines.push_back(nlohmann::json::parse(line, nullptr, false));
    }
    return lines;
  }

  std::vector<nlohmann::json> AccessLines() {
    std::vector<nlohmann::json> access;
    for (const auto& line : Lines()) {
      if (!line.is_discarded() && line.value("logger", "") == "access") access.push_back(line);
    }
    return access;
  }

  bool WaitForAccessLines(size_t n) {
    return WaitFor([&] { return AccessLines().size() >= n; }, absl::Seconds(10));
  }
};

TEST_F(ObservabilityAccessLogTest, WritesOneJsonLinePerConnectionWithItsOutcome) {
  // One good connection: s_client with the frontend's SVID, one line echoed.
  const CommandResult good = SClient(inbound_port_, dir(), "frontend");
  ASSERT_NE(good.output.find("hello"), std::string::npos) << good.output;
  ASSERT_TRUE(WaitForAccessLines(1)) << inbound_->process().Output();
  // One refused by policy, one without a certificate.
  pki().WriteFiles(dir(), "intruder", pki().IssueLeaf("/ns/other/sa/intruder"));
  SClient(inbound_port_, dir(), "intruder");
  ASSERT_TRUE(WaitForAccessLines(2)) << inbound_->process().Output();
  SClient(inbound_port_, dir(), "");
  ASSERT_TRUE(WaitForAccessLines(3)) << inbound_->process().Output();

  const std::vector<nlohmann::json> access = AccessLines();
  ASSERT_EQ(access.size(), 3u);
  for (const auto& line : access) {
    for (const char* field :
         {"ts", "level", "logger", "msg", "listener", "direction", "peer_id", "peer_address",
          "result", "bytes_in", "bytes_out", "duration_ms", "close_reason"}) {
      EXPECT_TRUE(line.contains(field)) << field << " missing in " << line.dump();
    }
    EXPECT_EQ(line["msg"], "connection");
    EXPECT_EQ(line["level"], "info");
    EXPECT_EQ(line["listener"], "in");
    EXPECT_EQ(line["direction"], "inbound");
    EXPECT_NE(line["peer_address"].get<std::string>().find("127.0.0.1:"), std::string::npos);
    EXPECT_GE(line["duration_ms"].get<int64_t>(), 0);
  }
  const nlohmann::json& ok = access[0];
  EXPECT_EQ(ok["peer_id"], kFrontendId);
  EXPECT_EQ(ok["result"], "ok");
  EXPECT_EQ(ok["close_reason"], "done");
  EXPECT_EQ(ok["bytes_in"], 6) << "\"hello\\n\" from the client";
  EXPECT_EQ(ok["bytes_out"], 6) << "its echo";

  const nlohmann::json& denied = access[1];
  EXPECT_EQ(denied["peer_id"], kIntruderId);
  EXPECT_EQ(denied["result"], "denied");
  EXPECT_EQ(denied["close_reason"], "not_authorized");
  EXPECT_EQ(denied["bytes_in"], 0);
  EXPECT_EQ(denied["bytes_out"], 0);
  EXPECT_NE(denied.value("detail", "").find("not allowed"), std::string::npos) << denied.dump();

  const nlohmann::json& anonymous = access[2];
  EXPECT_EQ(anonymous["peer_id"], "");
  EXPECT_EQ(anonymous["result"], "handshake_failed");
  EXPECT_EQ(anonymous["close_reason"], "no_certificate");
}

TEST_F(ObservabilityAccessLogTest, EveryLineIsJsonAndNoneHoldsKeyMaterial) {
  SClient(inbound_port_, dir(), "frontend");
  ASSERT_TRUE(WaitForAccessLines(1));
  const std::string log = inbound_->process().Output();
  for (const auto& line : Lines()) EXPECT_FALSE(line.is_discarded()) << log;
  EXPECT_EQ(log.find("PRIVATE KEY"), std::string::npos);
  for (const std::string name : {"backend", "frontend"}) {
    for (absl::string_view key_line :
         absl::StrSplit(ReadFileOrEmpty(absl::StrCat(dir(), "/", name, ".key")), '\n')) {
      if (key_line.empty() || key_line[0] == '-') continue;
      EXPECT_EQ(log.find(std::string(key_line)), std::string::npos)
          << "the log holds a line of " << name << ".key";
    }
  }
}

}  // namespace
}  // namespace palisade::testing
