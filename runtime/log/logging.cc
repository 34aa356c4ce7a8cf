#include "runtime/log/logging.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "runtime/status/status_macros.h"
#include "runtime/sync/mutex.h"

namespace palisade::log {
namespace {

constexpr absl::string_view kProxyLogger = "proxy";
constexpr absl::string_view kAccessLogger = "access";

spdlog::level::level_enum ToSpdlog(Level level) {
  switch (level) {
    case Level::kTrace:
      return spdlog::level::trace;
    case Level::kDebug:
      return spdlog::level::debug;
    case Level::kInfo:
      return spdlog::level::info;
    case Level::kWarn:
      return spdlog::level::warn;
    case Level::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

// One logging set-up. Immutable but for logger levels (atomic in spdlog) and
// the lazily created component loggers.
class State {
 public:
  State(Format format, spdlog::level::level_enum level, bool access_log,
        std::shared_ptr<spdlog::sinks::sink> sink)
      : format_(format), sink_(std::move(sink)), level_(level) {
    sink_->set_formatter(std::make_unique<LineFormatter>(format));
    proxy_ = Make(kProxyLogger, level);
    access_ = Make(kAccessLogger, access_log ? spdlog::level::info : spdlog::level::off);
  }

  Format format() const { return format_; }
  const std::shared_ptr<spdlog::logger>& proxy() const { return proxy_; }

  spdlog::logger* Get(absl::string_view name) {
    if (name == kProxyLogger) return proxy_.get();
    if (name == kAccessLogger) return access_.get();
    sync::MutexLock lock(&mu_);
    auto [it, inserted] = components_.try_emplace(name);
    if (inserted) it->second = Make(name, level_.load(std::memory_order_relaxed));
    return it->second.get();
  }

  void SetLevel(spdlog::level::level_enum level) {
    sync::MutexLock lock(&mu_);
    level_.store(level, std::memory_order_relaxed);
    proxy_->set_level(level);
    for (auto& [name, logger] : components_) logger->set_level(level);
  }

  void SetAccessLogEnabled(bool enabled) {
    access_->set_level(enabled ? spdlog::level::info : spdlog::level::off);
  }

 private:
  std::shared_ptr<spdlog::logger> Make(absl::string_view name, spdlog::level::level_enum level) {
    auto logger = std::make_shared<spdlog::logger>(std::string(name), sink_);
    logger->set_level(level);
    return logger;
  }

  const Format format_;
  const std::shared_ptr<spdlog::sinks::sink> sink_;
  std::shared_ptr<spdlog::logger> proxy_;
  std::shared_ptr<spdlog::logger> access_;
  std::atomic<spdlog::level::level_enum> level_;
  sync::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<spdlog::logger>> components_
      ABSL_GUARDED_BY(mu_);
};

sync::Mutex init_mu;
std::atomic<State*> current{nullptr};
// Every set-up ever made stays alive: a thread may still be logging through
// an older one while InitLogging replaces it. A few hundred bytes per call.
std::vector<std::unique_ptr<State>>* retired ABSL_GUARDED_BY(init_mu) = nullptr;

void Publish(std::unique_ptr<State> state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(init_mu) {
  if (retired == nullptr) retired = new std::vector<std::unique_ptr<State>>();
  current.store(state.get(), std::memory_order_release);
  retired->push_back(std::move(state));
}

State& Current() {
  State* state = current.load(std::memory_order_acquire);
  if (state != nullptr) return *state;
  sync::MutexLock lock(&init_mu);
  if (current.load(std::memory_order_acquire) == nullptr) {
    Publish(std::make_unique<State>(Format::kText, spdlog::level::info, true,
                                    std::make_shared<spdlog::sinks::stderr_sink_mt>()));
  }
  return *current.load(std::memory_order_acquire);
}

void Emit(Level level, absl::string_view logger_name, absl::string_view message,
          absl::Span<const Field> fields) {
  State& state = Current();
  spdlog::logger* logger = state.Get(logger_name);
  const spdlog::level::level_enum spd_level = ToSpdlog(level);
  if (!logger->should_log(spd_level)) return;
  std::string payload;
  // The separator must not appear in the message itself.
  for (char c : message) payload.push_back(c == kFieldSeparator ? ' ' : c);
  if (fields.size() > 0) {
    payload.push_back(kFieldSeparator);
    for (const Field& field : fields) {
      AppendField(state.format(), field.key(), field.value(), &payload);
    }
  }
  logger->log(spd_level, spdlog::string_view_t(payload.data(), payload.size()));
}

}  // namespace

absl::StatusOr<Level> ParseLevel(absl::string_view name) {
  if (name == "trace") return Level::kTrace;
  if (name == "debug") return Level::kDebug;
  if (name == "info") return Level::kInfo;
  if (name == "warn") return Level::kWarn;
  if (name == "error") return Level::kError;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown log level \"", name, "\"; expected trace, debug, info, warn or error"));
}

absl::Status InitLogging(const LogOptions& options) {
  ASSIGN_OR_RETURN(Level level, ParseLevel(options.level));
  Format format;
  if (options.format == "text") {
    format = Format::kText;
  } else if (options.format == "json") {
    format = Format::kJson;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown log format \"", options.format, "\"; expected text or json"));
  }
  std::shared_ptr<spdlog::sinks::sink> sink = options.sink;
  if (sink == nullptr) sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto state = std::make_unique<State>(format, ToSpdlog(level), options.access_log, sink);
  sync::MutexLock lock(&init_mu);
  spdlog::set_default_logger(state->proxy());
  Publish(std::move(state));
  return absl::OkStatus();
}

absl::Status InitLogging(absl::string_view level, absl::string_view format) {
  LogOptions options;
  options.level = std::string(level);
  options.format = std::string(format);
  return InitLogging(options);
}

void LogEvent(Level level, absl::string_view logger, absl::string_view message,
              std::initializer_list<Field> fields) {
  Emit(level, logger, message, fields);
}

void LogEvent(Level level, absl::string_view logger, absl::string_view message,
              absl::Span<const Field> fields) {
  Emit(level, logger, message, fields);
}

void LogEvent(Level level, absl::string_view logger, std::initializer_list<Field> fields) {
  Emit(level, logger, "", fields);
}

void Log(Level level, absl::string_view message, std::initializer_list<Field> fields) {
  Emit(level, kProxyLogger, message, fields);
}

bool ShouldLog(Level level, absl::string_view logger) {
  return Current().Get(logger)->should_log(ToSpdlog(level));
}

void SetLogLevel(Level level) { Current().SetLevel(ToSpdlog(level)); }

void SetAccessLogEnabled(bool enabled) { Current().SetAccessLogEnabled(enabled); }

}  // namespace palisade::log
