// The proxy's two log line formats, as an spdlog formatter: compact text
// ("2024-05-01T12:34:56.789Z info  proxy: message key=value") and JSON, one
// object per line. Structured fields travel inside a record's payload after a
// NUL byte, already rendered for the format by AppendField, so records that
// come straight from spdlog (no fields) format just as well.
#ifndef PALISADE_RUNTIME_LOG_LINE_FORMATTER_H_
#define PALISADE_RUNTIME_LOG_LINE_FORMATTER_H_

#include <spdlog/formatter.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <variant>

#include "absl/strings/string_view.h"

namespace palisade::log {

enum class Format { kText, kJson };

using FieldValue = std::variant<std::string, int64_t, uint64_t, double, bool>;

// Separates the message from the rendered fields in a record's payload.
inline constexpr char kFieldSeparator = '\0';

// Stateless; spdlog calls it under the sink's lock.
class LineFormatter : public spdlog::formatter {
 public:
  explicit LineFormatter(Format format) : format_(format) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;

 private:
  Format format_;
};

// Appends one field: ` key=value` in text (the value quoted and escaped as a
// JSON string when it holds spaces, quotes, '=', control or non-ASCII bytes,
// or is empty), `,"key":value` in JSON. Invalid UTF-8 becomes U+FFFD. Keys
// that would clash with the JSON line's own members (ts, level, logger, msg)
// get a trailing '_'.
void AppendField(Format format, absl::string_view key, const FieldValue& value, std::string* out);

// RFC 3339 in UTC with milliseconds: "2024-05-01T12:34:56.789Z".
std::string FormatTimestamp(std::chrono::system_clock::time_point time);

}  // namespace palisade::log

#endif  // PALISADE_RUNTIME_LOG_LINE_FORMATTER_H_
