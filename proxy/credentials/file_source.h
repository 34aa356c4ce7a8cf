// The file identity source: PEM files for the SVID chain, its key and the
// trust bundles, reloaded into the store whenever they change on disk
// (inotify on their folders, so atomic renames and Kubernetes secret swaps
// are seen too).
#ifndef PALISADE_PROXY_CREDENTIALS_FILE_SOURCE_H_
#define PALISADE_PROXY_CREDENTIALS_FILE_SOURCE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/palisade/config/v1/config.pb.h"
#include "proxy/credentials/credential_store.h"
#include "proxy/credentials/identity_source.h"
#include "runtime/net/unique_fd.h"

namespace palisade::credentials {

// Reads and parses the files; errors name the file and the problem.
absl::StatusOr<CredentialMaterial> LoadCredentialFiles(const config::v1::FileIdentitySource& files);

// Owns a watcher thread; stops it on destruction.
class FileSource final : public IdentitySource {
 public:
  // Called after every reload attempt with its outcome (for logs).
  using ReloadObserver = std::function<void(const absl::Status&)>;

  // Loads once now (the outcome goes to the observer; a failure does not stop
  // the watch, so files that appear later are picked up), then watches.
  static absl::StatusOr<std::unique_ptr<FileSource>> Start(
      const config::v1::FileIdentitySource& files, CredentialStore* store, ReloadObserver observer,
      absl::Duration settle = absl::Milliseconds(100));
  ~FileSource() override;

  uint64_t reloads() const { return reloads_.load(); }

 private:
  FileSource(config::v1::FileIdentitySource files, CredentialStore* store, ReloadObserver observer,
             absl::Duration settle);
  void Reload();
  void Watch();

  const config::v1::FileIdentitySource files_;
  CredentialStore* const store_;
  const ReloadObserver observer_;
  const absl::Duration settle_;
  net::UniqueFd inotify_;
  net::UniqueFd stop_;
  std::atomic<uint64_t> reloads_{0};
  std::thread thread_;
};

}  // namespace palisade::credentials

#endif  // PALISADE_PROXY_CREDENTIALS_FILE_SOURCE_H_
