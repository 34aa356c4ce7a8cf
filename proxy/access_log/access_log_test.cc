#include "proxy/access_log/access_log.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

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

// Every line written, parsed.
std::vector<nlohmann::json> LinesOf(const std::string& text) {
  std::vector<nlohmann::json> lines;
  size_t from = 0;
  for (size_t end; (end = text.find('\n', from)) != std::string::npos; from = end + 1) {
    lines.push_back(nlohmann::json::parse(text.substr(from, end - from), nullptr, false));
  }
  return lines;
}

TEST_F(AccessLogTest, RateLimitsFailedHandshakesAndSaysHowManyItHeldBack) {
  absl::Time now = absl::FromUnixSeconds(1000);
  int suppressed = 0;
  AccessLog::Options options;
  options.failures.burst = 3;
  options.failures.per_second = 1;
  options.clock = [&now] { return now; };
  options.on_suppressed = [&](const forward::ListenerContext& l, const std::string& reason) {
    EXPECT_EQ(l.name, "in");
    EXPECT_EQ(reason, "tls_error");
    ++suppressed;
  };
  AccessLog limited(options);
  forward::ConnectionSummary failed;
  failed.handshake_failed = true;
  failed.close_reason = "tls_error";
  for (int i = 0; i < 100; ++i) limited.OnClosed(listener_, failed);
  EXPECT_EQ(LinesOf(out_->str()).size(), 3u);
  EXPECT_EQ(suppressed, 97);

  // A connection that finished its handshake is never held back.
  forward::ConnectionSummary good;
  good.handshake_ok = true;
  good.close_reason = "done";
  for (int i = 0; i < 10; ++i) limited.OnClosed(listener_, good);
  EXPECT_EQ(LinesOf(out_->str()).size(), 13u);

  // A second later: the count of held-back lines, then the next line.
  now += absl::Seconds(1);
  limited.OnClosed(listener_, failed);
  const std::vector<nlohmann::json> lines = LinesOf(out_->str());
  ASSERT_EQ(lines.size(), 15u);
  EXPECT_EQ(lines[13]["msg"], "suppressed");
  EXPECT_EQ(lines[13]["suppressed"], 97);
  EXPECT_EQ(lines[13]["close_reason"], "tls_error");
  EXPECT_EQ(lines[13]["listener"], "in");
  EXPECT_EQ(lines[14]["msg"], "connection");
  EXPECT_EQ(lines[14]["result"], "handshake_failed");
}

TEST_F(AccessLogTest, ReportsWhatAFloodThatStoppedHeldBack) {
  AccessLog::Options options;
  options.failures.burst = 1;
  options.failures.per_second = 0;
  AccessLog limited(options);
  forward::ConnectionSummary failed;
  failed.handshake_failed = true;
  failed.close_reason = "not_tls";
  for (int i = 0; i < 5; ++i) limited.OnClosed(listener_, failed);
  limited.ReportSuppressed();
  limited.ReportSuppressed();  // nothing new: no line
  const std::vector<nlohmann::json> lines = LinesOf(out_->str());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1]["msg"], "suppressed");
  EXPECT_EQ(lines[1]["suppressed"], 4);
  EXPECT_EQ(lines[1]["listener"], "in");
  EXPECT_EQ(lines[1]["direction"], "inbound");
  EXPECT_EQ(lines[1]["result"], "handshake_failed");
  EXPECT_EQ(lines[1]["close_reason"], "not_tls");
}

TEST_F(AccessLogTest, RateLimitsRefusalsAtAccept) {
  AccessLog::Options options;
  options.failures.burst = 2;
  options.failures.per_second = 0;
  int suppressed = 0;
  options.on_suppressed = [&](const forward::ListenerContext&, const std::string&) {
    ++suppressed;
  };
  AccessLog limited(options);
  for (int i = 0; i < 10; ++i) limited.OnRefused(listener_, "max_connections");
  EXPECT_EQ(LinesOf(out_->str()).size(), 2u);
  EXPECT_EQ(suppressed, 8);
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
