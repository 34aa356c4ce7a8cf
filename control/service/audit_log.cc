#include "control/service/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "control/state/state_permissions.h"
#include "runtime/log/logging.h"

namespace palisade::control::service {
namespace {

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

}  // namespace

nlohmann::json AuditEventToJson(const AuditEvent& e) {
  nlohmann::json j = {
      {"time", Rfc3339(e.time)},
      {"event", e.event},
      {"spiffe_id", e.spiffe_id},
      {"serial", e.serial},
      {"not_after", e.not_after == absl::InfinitePast() ? nlohmann::json(nullptr)
                                                        : nlohmann::json(Rfc3339(e.not_after))},
      {"instance", e.instance},
      {"result", e.result},
      {"reason", e.reason}};
  if (!e.detail.empty()) j["detail"] = e.detail;
  if (!e.peer.empty()) j["peer"] = e.peer;
  if (e.suppressed > 0) j["suppressed"] = e.suppressed;
  if (!e.remote.empty()) j["remote"] = e.remote;
  return j;
}

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path,
                                                         size_t keep_recent,
                                                         size_t keep_refusal_keys) {
  std::FILE* file = nullptr;
  if (!path.empty()) {
    // fopen would create it 0666 minus the umask; an audit trail is the service's
    // alone. O_NOFOLLOW: a planted symlink must not aim our appends elsewhere.
    const int fd =
        ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("audit log ", path, ": ", std::strerror(errno)));
    }
    struct stat st;
    absl::Status usable = ::fstat(fd, &st) == 0
                              ? state::CheckStateFileStat(path, st)
                              : absl::FailedPreconditionError(
                                    absl::StrCat("audit log ", path, ": ", std::strerror(errno)));
    if (usable.ok()) {
      file = ::fdopen(fd, "a");
      if (file == nullptr) {
        usable = absl::FailedPreconditionError(
            absl::StrCat("audit log ", path, ": ", std::strerror(errno)));
      }
    }
    if (!usable.ok()) {
      ::close(fd);
      return usable;
    }
  }
  return std::unique_ptr<AuditLog>(new AuditLog(file, keep_recent, keep_refusal_keys));
}

AuditLog::~AuditLog() {
  if (file_ != nullptr) std::fclose(file_);
}

void AuditLog::Record(const AuditEvent& event) {
  const std::string line =
      AuditEventToJson(event).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  log::LogEvent(event.event == "issued" ? log::Level::kInfo : log::Level::kWarn, "audit",
                event.event,
                {{"spiffe_id", event.spiffe_id},
                 {"serial", event.serial},
                 {"instance", event.instance},
                 {"result", event.result},
                 {"reason", event.reason}});
  sync::MutexLock lock(&mu_);
  if (file_ != nullptr && (std::fputs(line.c_str(), file_) < 0 || std::fputc('\n', file_) == EOF ||
                           std::fflush(file_) != 0)) {
    // The audit trail must not fail silently (a full disk, say): the event
    // still went to the "audit" logger above; say loudly that the file lost it.
    const int error = errno;
    std::clearerr(file_);
    log::LogEvent(log::Level::kError, "audit", "cannot write the audit log file",
                  {{"error", std::strerror(error)},
                   {"lost_event", event.event},
                   {"spiffe_id", event.spiffe_id}});
  }
  recent_.push_back(event);
  while (recent_.size() > keep_) recent_.pop_front();
  if (event.event == "refused") {
    CountRefusal(event);
  } else {
    issuances_.push_back(event);
    while (issuances_.size() > keep_) issuances_.pop_front();
  }
}

void AuditLog::CountRefusal(const AuditEvent& event) {
  const std::string key = absl::StrCat(event.spiffe_id, "\x1f", event.reason);
  auto it = refusals_.find(key);
  if (it == refusals_.end()) {
    if (keep_refusal_keys_ == 0) return;
    if (refusals_.size() >= keep_refusal_keys_) {
      auto oldest = refusals_.begin();
      for (auto i = refusals_.begin(); i != refusals_.end(); ++i) {
        if (i->second.last < oldest->second.last) oldest = i;
      }
      refusals_.erase(oldest);
    }
    RefusalCount fresh;
    fresh.spiffe_id = event.spiffe_id;
    fresh.reason = event.reason;
    fresh.first = event.time;
    it = refusals_.emplace(key, std::move(fresh)).first;
  }
  it->second.count += (event.summary ? 0 : 1) + event.suppressed;
  it->second.last = std::max(it->second.last, event.time);
}

std::vector<AuditEvent> AuditLog::RecentIssuances() const {
  sync::MutexLock lock(&mu_);
  return std::vector<AuditEvent>(issuances_.begin(), issuances_.end());
}

std::vector<RefusalCount> AuditLog::Refusals() const {
  std::vector<RefusalCount> out;
  {
    sync::MutexLock lock(&mu_);
    for (const auto& [key, count] : refusals_) out.push_back(count);
  }
  std::sort(out.begin(), out.end(), [](const RefusalCount& a, const RefusalCount& b) {
    return a.last != b.last ? a.last > b.last : a.count > b.count;
  });
  return out;
}

std::vector<AuditEvent> AuditLog::Recent() const {
  sync::MutexLock lock(&mu_);
  return std::vector<AuditEvent>(recent_.begin(), recent_.end());
}

}  // namespace palisade::control::service
