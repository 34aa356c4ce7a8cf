#include "runtime/log/line_formatter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

namespace palisade::log {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

system_clock::time_point At(int64_t millis_since_epoch) {
  return system_clock::time_point(milliseconds(millis_since_epoch));
}

// Formats one record the way a sink would.
std::string Render(Format format, spdlog::level::level_enum level, const std::string& payload,
                   system_clock::time_point time = At(1714566896789)) {
  spdlog::details::log_msg msg(spdlog::source_loc{}, "proxy", level,
                               spdlog::string_view_t(payload.data(), payload.size()));
  msg.time = time;
  spdlog::memory_buf_t buffer;
  LineFormatter(format).format(msg, buffer);
  return std::string(buffer.data(), buffer.size());
}

TEST(LineFormatterTest, FormatsTimestampsAsRfc3339UtcWithMilliseconds) {
  EXPECT_EQ(FormatTimestamp(At(1714566896789)), "2024-05-01T12:34:56.789Z");
  EXPECT_EQ(FormatTimestamp(At(0)), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTimestamp(At(-1)), "1969-12-31T23:59:59.999Z");
}

TEST(LineFormatterTest, WritesACompactTextLine) {
  EXPECT_EQ(Render(Format::kText, spdlog::level::info, "listening"),
            "2024-05-01T12:34:56.789Z info  proxy: listening\n");
  EXPECT_EQ(Render(Format::kText, spdlog::level::err, "failed"),
            "2024-05-01T12:34:56.789Z error proxy: failed\n");
}

TEST(LineFormatterTest, IndentsContinuationLinesAndEscapesControlBytesInText) {
  EXPECT_EQ(Render(Format::kText, spdlog::level::warn, "a\nb\rc\x1b[31m"),
            "2024-05-01T12:34:56.789Z warn  proxy: a\n    b\\x0dc\\x1b[31m\n");
}

TEST(LineFormatterTest, AppendsRenderedFieldsAfterTheSeparator) {
  std::string payload = "closed";
  payload.push_back(kFieldSeparator);
  AppendField(Format::kText, "bytes", FieldValue(int64_t{5}), &payload);
  EXPECT_EQ(Render(Format::kText, spdlog::level::info, payload),
            "2024-05-01T12:34:56.789Z info  proxy: closed bytes=5\n");
}

TEST(LineFormatterTest, WritesOneJsonObjectPerLine) {
  std::string payload = "say \"hi\"\n";
  payload.push_back(kFieldSeparator);
  AppendField(Format::kJson, "n", FieldValue(uint64_t{7}), &payload);
  const std::string line = Render(Format::kJson, spdlog::level::debug, payload);
  EXPECT_EQ(line,
            "{\"ts\":\"2024-05-01T12:34:56.789Z\",\"level\":\"debug\",\"logger\":\"proxy\","
            "\"msg\":\"say \\\"hi\\\"\\n\",\"n\":7}\n");
  EXPECT_EQ(nlohmann::json::parse(line)["msg"], "say \"hi\"\n");
}

TEST(LineFormatterTest, QuotesTextValuesOnlyWhenNeeded) {
  std::string out;
  AppendField(Format::kText, "peer", FieldValue(std::string("spiffe://td/a")), &out);
  AppendField(Format::kText, "reason", FieldValue(std::string("bad cert")), &out);
  AppendField(Format::kText, "empty", FieldValue(std::string()), &out);
  AppendField(Format::kText, "eq", FieldValue(std::string("a=b")), &out);
  AppendField(Format::kText, "ok", FieldValue(true), &out);
  AppendField(Format::kText, "ratio", FieldValue(0.5), &out);
  AppendField(Format::kText, "delta", FieldValue(int64_t{-3}), &out);
  EXPECT_EQ(out,
            " peer=spiffe://td/a reason=\"bad cert\" empty=\"\" eq=\"a=b\" ok=true ratio=0.5 "
            "delta=-3");
}

TEST(LineFormatterTest, EscapesJsonValuesAndReplacesInvalidUtf8) {
  std::string out;
  AppendField(Format::kJson, "sni", FieldValue(std::string("a\"b\\c\x01\xff")), &out);
  AppendField(Format::kJson, "caf\xc3\xa9", FieldValue(std::string("ok")), &out);
  AppendField(Format::kJson, "nan", FieldValue(std::numeric_limits<double>::quiet_NaN()), &out);
  EXPECT_EQ(out, ",\"sni\":\"a\\\"b\\\\c\\u0001\xef\xbf\xbd\",\"caf\xc3\xa9\":\"ok\",\"nan\":null");
  EXPECT_FALSE(nlohmann::json::parse("{\"x\":0" + out + "}", nullptr, false).is_discarded());
}

TEST(LineFormatterTest, RenamesFieldsThatClashWithTheLinesOwnMembers) {
  std::string out;
  for (const char* key : {"ts", "level", "logger", "msg"}) {
    AppendField(Format::kJson, key, FieldValue(int64_t{1}), &out);
  }
  EXPECT_EQ(out, ",\"ts_\":1,\"level_\":1,\"logger_\":1,\"msg_\":1");
}

}  // namespace
}  // namespace palisade::log
