#include "runtime/log/line_formatter.h"

#include <time.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace palisade::log {
namespace {

using Json = nlohmann::json;

// Never throws on invalid UTF-8 (peers control some of what is logged).
std::string JsonString(absl::string_view s) {
  return Json(std::string(s)).dump(-1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

absl::string_view LevelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    default:
      return "off";
  }
}

bool NeedsQuotes(absl::string_view s) {
  if (s.empty()) return true;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '"' || c == '=') return true;
  }
  return false;
}

bool IsReserved(absl::string_view key) {
  return key == "ts" || key == "level" || key == "logger" || key == "msg";
}

void Append(absl::string_view s, spdlog::memory_buf_t* dest) {
  dest->append(s.data(), s.data() + s.size());
}

// A text message stays readable when it spans lines (a config error lists one
// problem per line), but cannot forge a line: continuation lines are indented
// and other control bytes (CR, ESC...) are shown escaped.
void AppendTextMessage(absl::string_view text, spdlog::memory_buf_t* dest) {
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      Append("\n    ", dest);
    } else if ((u < 0x20 && c != '\t') || u == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\x%02x", u);
      Append(escaped, dest);
    } else {
      dest->push_back(c);
    }
  }
}

}  // namespace

void AppendField(Format format, absl::string_view key, const FieldValue& value, std::string* out) {
  std::string rendered;
  if (const auto* s = std::get_if<std::string>(&value)) {
    rendered = format == Format::kJson || NeedsQuotes(*s) ? JsonString(*s) : *s;
  } else if (const auto* i = std::get_if<int64_t>(&value)) {
    rendered = absl::StrCat(*i);
  } else if (const auto* u = std::get_if<uint64_t>(&value)) {
    rendered = absl::StrCat(*u);
  } else if (const auto* d = std::get_if<double>(&value)) {
    rendered = Json(*d).dump();  // shortest round-trip form; NaN and inf become null
  } else {
    rendered = std::get<bool>(value) ? "true" : "false";
  }
  if (format == Format::kJson) {
    absl::StrAppend(out, ",", JsonString(IsReserved(key) ? absl::StrCat(key, "_") : key), ":",
                    rendered);
  } else {
    absl::StrAppend(out, " ", key, "=", rendered);
  }
}

std::string FormatTimestamp(std::chrono::system_clock::time_point time) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  auto whole = std::chrono::time_point_cast<seconds>(time);
  if (whole > time) whole -= seconds(1);  // floor for times before 1970
  const auto millis = duration_cast<milliseconds>(time - whole).count();
  const time_t t = std::chrono::system_clock::to_time_t(whole);
  struct tm utc;
  gmtime_r(&t, &utc);
  char buffer[40];
  std::snprintf(buffer, sizeof(buffer), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(millis));
  return buffer;
}

void LineFormatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  const absl::string_view payload(msg.payload.data(), msg.payload.size());
  const size_t separator = payload.find(kFieldSeparator);
  const absl::string_view text = payload.substr(0, separator);
  const absl::string_view fields =
      separator == absl::string_view::npos ? absl::string_view() : payload.substr(separator + 1);
  const absl::string_view logger(msg.logger_name.data(), msg.logger_name.size());
  const std::string timestamp = FormatTimestamp(msg.time);
  if (format_ == Format::kJson) {
    Append(absl::StrCat("{\"ts\":\"", timestamp, "\",\"level\":\"", LevelName(msg.level),
                        "\",\"logger\":", JsonString(logger), ",\"msg\":", JsonString(text)),
           &dest);
    Append(fields, &dest);
    Append("}\n", &dest);
    return;
  }
  const absl::string_view level = LevelName(msg.level);
  Append(
      absl::StrCat(timestamp, " ", level, std::string(level.size() < 5 ? 5 - level.size() : 0, ' '),
                   " ", logger, ":", text.empty() ? "" : " "),
      &dest);
  AppendTextMessage(text, &dest);
  Append(fields, &dest);
  Append("\n", &dest);
}

std::unique_ptr<spdlog::formatter> LineFormatter::clone() const {
  return std::make_unique<LineFormatter>(format_);
}

}  // namespace palisade::log
