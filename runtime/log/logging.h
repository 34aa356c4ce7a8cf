// The proxy's logging: a general "proxy" logger and an "access" logger (one
// line per connection, can be switched off), through spdlog, as compact text
// lines or one JSON object per line, with structured key/value fields:
//
//   LogEvent(Level::kInfo, "access", {{"listener", "in"}, {"peer", id}, {"bytes_in", 123}});
//   Log(Level::kWarn, "certificate expires soon", {{"in_seconds", 300}});
//
// Put untrusted data (peer names, SNI, paths) in fields, which are always
// escaped; text-mode messages are printed as written (multi-line allowed).
#ifndef PALISADE_RUNTIME_LOG_LOGGING_H_
#define PALISADE_RUNTIME_LOG_LOGGING_H_

#include <spdlog/sinks/sink.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "runtime/log/line_formatter.h"

namespace palisade::log {

enum class Level { kTrace, kDebug, kInfo, kWarn, kError };

// "trace", "debug", "info", "warn" or "error".
absl::StatusOr<Level> ParseLevel(absl::string_view name);

// One structured field. Implicitly built from {key, value} for strings,
// integers, floating-point numbers and bools; the value is copied.
class Field {
 public:
  Field(absl::string_view key, absl::string_view value) : key_(key), value_(std::string(value)) {}
  Field(absl::string_view key, const char* value) : Field(key, absl::string_view(value)) {}
  Field(absl::string_view key, const std::string& value) : key_(key), value_(value) {}
  Field(absl::string_view key, bool value) : key_(key), value_(value) {}
  Field(absl::string_view key, double value) : key_(key), value_(value) {}
  template <typename Int,
            std::enable_if_t<std::is_integral<Int>::value && !std::is_same<Int, bool>::value &&
                                 std::is_signed<Int>::value,
                             int> = 0>
  Field(absl::string_view key, Int value) : key_(key), value_(static_cast<int64_t>(value)) {}
  template <typename Int,
            std::enable_if_t<std::is_integral<Int>::value && !std::is_same<Int, bool>::value &&
                                 std::is_unsigned<Int>::value,
                             int> = 0>
  Field(absl::string_view key, Int value) : key_(key), value_(static_cast<uint64_t>(value)) {}

  const std::string& key() const { return key_; }
  const FieldValue& value() const { return value_; }

 private:
  std::string key_;
  FieldValue value_;
};

struct LogOptions {
  std::string level = "info";   // of every logger but "access"
  std::string format = "text";  // "text" or "json"
  bool access_log = true;       // access events are logged at info and above
  // Where lines go; null: stderr. Must be thread-safe (an spdlog *_mt sink).
  std::shared_ptr<spdlog::sinks::sink> sink;
};

// Replaces the logging set-up (until then: info, text, stderr) and makes the
// "proxy" logger spdlog's default, so direct spdlog calls get the same format.
// InvalidArgument, changing nothing, for an unknown level or format. Safe to
// call while other threads log through this API (they finish their line with
// the old set-up); not while they call spdlog's own default-logger functions.
absl::Status InitLogging(const LogOptions& options);
absl::Status InitLogging(absl::string_view level, absl::string_view format);

// Thread-safe. `logger` is "proxy", "access" or a component's name (created on
// first use with the "proxy" logger's level).
void LogEvent(Level level, absl::string_view logger, absl::string_view message,
              std::initializer_list<Field> fields);
void LogEvent(Level level, absl::string_view logger, std::initializer_list<Field> fields);
// The same with fields built at run time.
void LogEvent(Level level, absl::string_view logger, absl::string_view message,
              absl::Span<const Field> fields);
// To the "proxy" logger.
void Log(Level level, absl::string_view message, std::initializer_list<Field> fields = {});

// True when an event at `level` on `logger` would be written: check it before
// building costly fields.
bool ShouldLog(Level level, absl::string_view logger = "proxy");

// Thread-safe run-time switches (e.g. from the admin endpoint).
void SetLogLevel(Level level);
void SetAccessLogEnabled(bool enabled);

}  // namespace palisade::log

#endif  // PALISADE_RUNTIME_LOG_LOGGING_H_
