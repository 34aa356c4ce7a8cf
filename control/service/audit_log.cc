#include "control/service/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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
                                                         size_t keep_recent) {
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
  return std::unique_ptr<AuditLog>(new AuditLog(file, keep_recent));
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
}

std::vector<AuditEvent> AuditLog::Recent() const {
  sync::MutexLock lock(&mu_);
  return std::vector<AuditEvent>(recent_.begin(), recent_.end());
}

}  // namespace palisade::control::service
