#include "proxy/access_log/access_log.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "runtime/log/logging.h"

namespace palisade::access_log {
namespace {

class AccessLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::LogOptions options;
    options.format = "json";
    options.sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(*out_, /*force_flush=*/true);
    ASSERT_TRUE(log::InitLogging(options).ok());
    listener_.name = "in";
    listener_.direction = forward::Direction::kInbound;
  }

  nlohmann::json OnlyLine() {
    const std::string text = out_->str();
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
    return nlohmann::json::parse(text.substr(0, text.find('\n')), nullptr, false);
  }

  std::shared_ptr<std::ostringstream> out_ = std::make_shared<std::ostringstream>();
  forward::ListenerContext listener_;
  AccessLog access_log_;
};

TEST_F(AccessLogTest, LogsACleanConnectionAsOkWithItsBytesAndDuration) {
  forward::ConnectionSummary s;
  s.peer_id = "spiffe://td/a";
  s.peer_address = "127.0.0.1:4000";
  s.handshake_ok = true;
  s.close_reason = "done";
  s.bytes_from_downstream = 10;
  s.bytes_from_upstream = 20;
  s.duration = absl::Milliseconds(1500);
  access_log_.OnClosed(listener_, s);
  const nlohmann::json line = OnlyLine();
  EXPECT_EQ(line["logger"], "access");
  EXPECT_EQ(line["msg"], "connection");
  EXPECT_EQ(line["listener"], "in");
  EXPECT_EQ(line["direction"], "inbound");
  EXPECT_EQ(line["peer_id"], "spiffe://td/a");
  EXPECT_EQ(line["peer_address"], "127.0.0.1:4000");
  EXPECT_EQ(line["result"], "ok");
  EXPECT_EQ(line["bytes_in"], 10);
  EXPECT_EQ(line["bytes_out"], 20);
  EXPECT_EQ(line["duration_ms"], 1500);
  EXPECT_EQ(line["close_reason"], "done");
  EXPECT_FALSE(line.contains("detail"));
}

TEST_F(AccessLogTest, LogsAPolicyRefusalAsDeniedWithTheDetail) {
  forward::ConnectionSummary s;
  s.peer_id = "spiffe://td/intruder";
  s.handshake_failed = true;
  s.close_reason = "not_authorized";
  s.detail = "spiffe://td/intruder is not allowed by listener in";
  access_log_.OnClosed(listener_, s);
  const nlohmann::json line = OnlyLine();
  EXPECT_EQ(line["result"], "denied");
  EXPECT_EQ(line["detail"], s.detail);
}

TEST_F(AccessLogTest, TellsHandshakeFailuresFromOtherErrors) {
  forward::ConnectionSummary s;
  s.handshake_failed = true;
  s.close_reason = "untrusted_chain";
  EXPECT_STREQ(AccessLog::Result(s), "handshake_failed");
  s.handshake_failed = false;
  s.close_reason = "upstream_connection_refused";
  EXPECT_STREQ(AccessLog::Result(s), "error");
  s.close_reason = "done";
  EXPECT_STREQ(AccessLog::Result(s), "ok");
}

TEST_F(AccessLogTest, LogsARefusalAtAccept) {
  access_log_.OnRefused(listener_, "max_connections");
  const nlohmann::json line = OnlyLine();
  EXPECT_EQ(line["msg"], "refused");
  EXPECT_EQ(line["result"], "refused");
  EXPECT_EQ(line["close_reason"], "max_connections");
}

}  // namespace
}  // namespace palisade::access_log
