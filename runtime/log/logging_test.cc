#include "runtime/log/logging.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"
#include "tests/util/status_matchers.h"

namespace palisade::log {
namespace {

using ::palisade::testing::IsOk;
using ::palisade::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Json = nlohmann::json;

// Captures what the loggers write.
class LoggingTest : public ::testing::Test {
 protected:
  void Init(const std::string& level, const std::string& format, bool access_log = true) {
    out_ = std::make_shared<std::ostringstream>();
    LogOptions options;
    options.level = level;
    options.format = format;
    options.access_log = access_log;
    options.sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(*out_, /*force_flush=*/true);
    ASSERT_THAT(InitLogging(options), IsOk());
  }

  // The lines written so far, without their newlines.
  std::vector<std::string> Lines() const {
    std::vector<std::string> lines = absl::StrSplit(out_->str(), '\n', absl::SkipEmpty());
    return lines;
  }

  // Every line parsed as JSON (a failure if one is not).
  std::vector<Json> JsonLines() const {
    std::vector<Json> parsed;
    for (const std::string& line : Lines()) {
      Json json = Json::parse(line, nullptr, /*allow_exceptions=*/false);
      EXPECT_FALSE(json.is_discarded()) << line;
      parsed.push_back(json);
    }
    return parsed;
  }

  void TearDown() override {
    // Back to stderr, so no later test writes into a freed stream.
    ASSERT_THAT(InitLogging("info", "text"), IsOk());
  }

  std::shared_ptr<std::ostringstream> out_;
};

TEST_F(LoggingTest, WritesTextLinesWithTimeLevelLoggerMessageAndFields) {
  Init("info", "text");
  Log(Level::kInfo, "listening", {{"listener", "cart-in"}, {"address", "0.0.0.0:15006"}});
  const std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(std::regex_match(
      lines[0], std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info  proxy: listening )"
                           R"(listener=cart-in address=0\.0\.0\.0:15006)")))
      << lines[0];
}

TEST_F(LoggingTest, WritesTheAccessEventOfTheBriefInBothFormats) {
  Init("info", "text");
  LogEvent(
      Level::kInfo, "access",
      {{"listener", "in"}, {"peer", "spiffe://cluster.local/ns/shop/sa/cart"}, {"bytes_in", 123}});
  ASSERT_EQ(Lines().size(), 1u);
  EXPECT_THAT(Lines()[0], HasSubstr(" info  access: listener=in "
                                    "peer=spiffe://cluster.local/ns/shop/sa/cart bytes_in=123"));

  Init("info", "json");
  LogEvent(
      Level::kInfo, "access",
      {{"listener", "in"}, {"peer", "spiffe://cluster.local/ns/shop/sa/cart"}, {"bytes_in", 123}});
  const std::vector<Json> lines = JsonLines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["logger"], "access");
  EXPECT_EQ(lines[0]["level"], "info");
  EXPECT_EQ(lines[0]["msg"], "");
  EXPECT_EQ(lines[0]["listener"], "in");
  EXPECT_EQ(lines[0]["peer"], "spiffe://cluster.local/ns/shop/sa/cart");
  EXPECT_EQ(lines[0]["bytes_in"], 123);
  EXPECT_TRUE(std::regex_match(lines[0]["ts"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
}

TEST_F(LoggingTest, KeepsFieldTypesInJson) {
  Init("info", "json");
  const std::string owned = "owned";
  Log(Level::kWarn, "kinds",
      {{"int", -7},
       {"unsigned", 7u},
       {"int64_max", std::numeric_limits<int64_t>::max()},
       {"uint64_max", std::numeric_limits<uint64_t>::max()},
       {"size", size_t{3}},
       {"ratio", 0.25},
       {"yes", true},
       {"owned", owned},
       {"view", absl::string_view("v")}});
  const std::vector<Json> lines = JsonLines();
  ASSERT_EQ(lines.size(), 1u);
  const Json& line = lines[0];
  EXPECT_EQ(line["level"], "warn");
  EXPECT_EQ(line["msg"], "kinds");
  EXPECT_EQ(line["int"], -7);
  EXPECT_EQ(line["unsigned"], 7);
  EXPECT_EQ(line["int64_max"], std::numeric_limits<int64_t>::max());
  EXPECT_EQ(line["uint64_max"], std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(line["size"], 3);
  EXPECT_EQ(line["ratio"], 0.25);
  EXPECT_EQ(line["yes"], true);
  EXPECT_EQ(line["owned"], "owned");
  EXPECT_EQ(line["view"], "v");
}

TEST_F(LoggingTest, EscapesHostileValuesInBothFormats) {
  const std::string hostile = "x\" injected=1\n{\"level\":\"error\"}\xff";
  Init("info", "json");
  Log(Level::kInfo, "msg with \"quotes\"\nand a newline", {{"sni", hostile}, {"msg", "clash"}});
  std::vector<Json> lines = JsonLines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["msg"], "msg with \"quotes\"\nand a newline");
  EXPECT_EQ(lines[0]["sni"], "x\" injected=1\n{\"level\":\"error\"}\xef\xbf\xbd");
  EXPECT_EQ(lines[0]["msg_"], "clash");
  EXPECT_EQ(lines[0]["level"], "info");

  Init("info", "text");
  Log(Level::kInfo, "handshake failed", {{"sni", hostile}});
  ASSERT_EQ(Lines().size(), 1u);
  EXPECT_THAT(Lines()[0], HasSubstr("handshake failed sni=\"x\\\" injected=1\\n{\\\"level\\\":"
                                    "\\\"error\\\"}\xef\xbf\xbd\""));
}

TEST_F(LoggingTest, DropsEventsBelowTheLevel) {
  Init("warn", "text");
  EXPECT_FALSE(ShouldLog(Level::kInfo));
  EXPECT_TRUE(ShouldLog(Level::kWarn));
  Log(Level::kTrace, "trace");
  Log(Level::kDebug, "debug");
  Log(Level::kInfo, "info");
  Log(Level::kWarn, "warn");
  Log(Level::kError, "error");
  const std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], HasSubstr(" warn  proxy: warn"));
  EXPECT_THAT(lines[1], HasSubstr(" error proxy: error"));
}

TEST_F(LoggingTest, WritesEveryLevelAtTrace) {
  Init("trace", "json");
  for (Level level : {Level::kTrace, Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    Log(level, "x");
  }
  std::vector<std::string> levels;
  for (const Json& line : JsonLines()) levels.push_back(line["level"]);
  EXPECT_THAT(levels, ElementsAre("trace", "debug", "info", "warn", "error"));
}

TEST_F(LoggingTest, ChangesTheLevelAtRunTime) {
  Init("info", "text");
  Log(Level::kDebug, "hidden");
  SetLogLevel(Level::kDebug);
  Log(Level::kDebug, "shown");
  LogEvent(Level::kDebug, "control", "component", {});
  SetLogLevel(Level::kError);
  LogEvent(Level::kWarn, "control", "hidden too", {});
  const std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], HasSubstr("debug proxy: shown"));
  EXPECT_THAT(lines[1], HasSubstr("debug control: component"));
}

TEST_F(LoggingTest, WritesAccessEventsWhateverTheLevelUnlessDisabled) {
  Init("error", "text", /*access_log=*/true);
  LogEvent(Level::kInfo, "access", {{"n", 1}});
  Log(Level::kInfo, "below the level");
  ASSERT_EQ(Lines().size(), 1u);
  EXPECT_THAT(Lines()[0], HasSubstr("access: n=1"));

  Init("info", "text", /*access_log=*/false);
  EXPECT_FALSE(ShouldLog(Level::kInfo, "access"));
  LogEvent(Level::kInfo, "access", {{"n", 2}});
  Log(Level::kInfo, "general");
  SetAccessLogEnabled(true);
  LogEvent(Level::kInfo, "access", {{"n", 3}});
  const std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], HasSubstr("proxy: general"));
  EXPECT_THAT(lines[1], HasSubstr("access: n=3"));
}

TEST_F(LoggingTest, FormatsDirectSpdlogCallsTheSameWay) {
  Init("info", "json");
  spdlog::info("direct {}", 42);
  spdlog::get("proxy")->warn("by name");
  const std::vector<Json> lines = JsonLines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["msg"], "direct 42");
  EXPECT_EQ(lines[0]["logger"], "proxy");
  EXPECT_EQ(lines[1]["level"], "warn");
}

TEST_F(LoggingTest, KeepsAMessageWithANulByteOnOneLine) {
  Init("info", "json");
  Log(Level::kInfo, absl::string_view("a\0b", 3), {{"k", "v"}});
  const std::vector<Json> lines = JsonLines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["msg"], "a b");
  EXPECT_EQ(lines[0]["k"], "v");
}

TEST_F(LoggingTest, RefusesAnUnknownLevelOrFormatAndKeepsTheCurrentSetUp) {
  Init("info", "json");
  EXPECT_THAT(InitLogging("verbose", "text"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown log level")));
  EXPECT_THAT(InitLogging("info", "xml"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown log format")));
  Log(Level::kInfo, "still json");
  ASSERT_EQ(JsonLines().size(), 1u);
  EXPECT_THAT(ParseLevel("warning"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(LoggingTest, WritesWholeLinesFromManyThreads) {
  Init("info", "json");
  constexpr int kThreads = 8;
  constexpr int kEach = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < kEach; ++i) {
        LogEvent(Level::kInfo, i % 2 == 0 ? "access" : "proxy", "event",
                 {{"thread", t}, {"seq", i}, {"padding", std::string(100, 'p')}});
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::vector<std::vector<bool>> seen(kThreads, std::vector<bool>(kEach, false));
  int count = 0;
  for (const Json& line : JsonLines()) {
    seen[line["thread"].get<int>()][line["seq"].get<int>()] = true;
    ++count;
  }
  EXPECT_EQ(count, kThreads * kEach);
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kEach; ++i) EXPECT_TRUE(seen[t][i]) << t << " " << i;
  }
}

TEST_F(LoggingTest, SurvivesReinitialisationWhileOtherThreadsLog) {
  Init("info", "json");
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&stop] {
      while (!stop.load()) Log(Level::kInfo, "busy", {{"k", 1}});
    });
  }
  // Each set-up writes into its own stream; all of them stay alive until the end.
  std::vector<std::shared_ptr<std::ostringstream>> streams;
  for (int i = 0; i < 20; ++i) {
    streams.push_back(std::make_shared<std::ostringstream>());
    LogOptions options;
    options.format = i % 2 == 0 ? "text" : "json";
    options.sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(*streams.back(), true);
    ASSERT_THAT(InitLogging(options), IsOk());
  }
  stop = true;
  for (std::thread& thread : threads) thread.join();
  ASSERT_THAT(InitLogging("info", "text"), IsOk());
  for (size_t i = 1; i < streams.size(); i += 2) {
    for (absl::string_view line : absl::StrSplit(streams[i]->str(), '\n', absl::SkipEmpty())) {
      EXPECT_FALSE(Json::parse(line, nullptr, false).is_discarded()) << line;
    }
  }
}

}  // namespace
}  // namespace palisade::log
