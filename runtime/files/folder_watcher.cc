#include "runtime/files/folder_watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"

namespace palisade::files {

std::string FolderOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

absl::StatusOr<std::unique_ptr<FolderWatcher>> FolderWatcher::Start(
    const std::vector<std::string>& files, std::function<void()> on_change, absl::Duration settle) {
  std::unique_ptr<FolderWatcher> watcher(new FolderWatcher(std::move(on_change), settle));
  watcher->inotify_.Reset(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  watcher->stop_.Reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!watcher->inotify_.valid() || !watcher->stop_.valid()) {
    return absl::InternalError(absl::StrCat("inotify/eventfd: ", std::strerror(errno)));
  }
  std::set<std::string> folders;
  for (const std::string& file : files) folders.insert(FolderOf(file));
  constexpr uint32_t kEvents =
      IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVE_SELF | IN_ATTRIB;
  for (const std::string& folder : folders) {
    if (inotify_add_watch(watcher->inotify_.get(), folder.c_str(), kEvents) < 0) {
      return absl::NotFoundError(
          absl::StrCat("cannot watch folder ", folder, ": ", std::strerror(errno)));
    }
  }
  watcher->thread_ = std::thread([w = watcher.get()] { w->Run(); });
  return watcher;
}

FolderWatcher::FolderWatcher(std::function<void()> on_change, absl::Duration settle)
    : on_change_(std::move(on_change)), settle_(settle) {}

FolderWatcher::~FolderWatcher() {
  const uint64_t one = 1;
  (void)!write(stop_.get(), &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
}

void FolderWatcher::Run() {
  pollfd watched[2] = {{inotify_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
  bool changed = false;
  while (true) {
    // Quiet for `settle` after a change: the writer is done with its files.
    const int wait_ms = changed ? static_cast<int>(absl::ToInt64Milliseconds(settle_)) : -1;
    const int ready = poll(watched, 2, wait_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (watched[1].revents & POLLIN) return;
    if (ready == 0) {
      changed = false;
      on_change_();
      continue;
    }
    if (watched[0].revents & POLLIN) {
      alignas(inotify_event) char events[8192];
      while (read(inotify_.get(), events, sizeof(events)) > 0) {
      }
      changed = true;
    }
  }
}

}  // namespace palisade::files
