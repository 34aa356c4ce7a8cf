// Calls back when files in some folders change, once the writer has had a
// moment to finish (inotify on the folders, so atomic renames and
// Kubernetes secret swaps are seen as well as writes in place).
#ifndef PALISADE_RUNTIME_FILES_FOLDER_WATCHER_H_
#define PALISADE_RUNTIME_FILES_FOLDER_WATCHER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/net/unique_fd.h"

namespace palisade::files {

// The folder holding `path` ("." for a bare name).
std::string FolderOf(const std::string& path);

// Owns one thread, which runs `on_change`; stopped and joined on destruction.
class FolderWatcher {
 public:
  // Watches the folders of `files`; `on_change` runs on the watcher's thread
  // after a change, once no further event came for `settle`.
  static absl::StatusOr<std::unique_ptr<FolderWatcher>> Start(
      const std::vector<std::string>& files, std::function<void()> on_change,
      absl::Duration settle = absl::Milliseconds(100));
  ~FolderWatcher();
  FolderWatcher(const FolderWatcher&) = delete;
  FolderWatcher& operator=(const FolderWatcher&) = delete;

 private:
  FolderWatcher(std::function<void()> on_change, absl::Duration settle);
  void Run();

  const std::function<void()> on_change_;
  const absl::Duration settle_;
  net::UniqueFd inotify_;
  net::UniqueFd stop_;
  std::thread thread_;
};

}  // namespace palisade::files

#endif  // PALISADE_RUNTIME_FILES_FOLDER_WATCHER_H_
