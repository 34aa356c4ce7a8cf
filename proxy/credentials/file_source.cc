#include "proxy/credentials/file_source.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "identity/certificate.h"
#include "identity/keys.h"
#include "runtime/files/files.h"
#include "runtime/status/status_macros.h"

namespace palisade::credentials {
namespace {

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

absl::StatusOr<CredentialMaterial> LoadCredentialFiles(
    const config::v1::FileIdentitySource& files) {
  CredentialMaterial material;
  material.source = "files";
  ASSIGN_OR_RETURN(std::string chain_pem,
                   files::ReadSmallFile(files.certificate_chain_file(), "certificate_chain_file"));
  auto chain = identity::ParsePemCertificates(chain_pem);
  if (!chain.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate_chain_file ", files.certificate_chain_file(), ": ", chain.status().message()));
  }
  material.chain = *std::move(chain);

  ASSIGN_OR_RETURN(std::string key_pem,
                   files::ReadSmallFile(files.private_key_file(), "private_key_file"));
  auto key = identity::ParsePrivateKeyPem(key_pem);
  if (!key.ok()) {
    // Never echo key material; the parser's message names only the problem.
    return absl::InvalidArgumentError(
        absl::StrCat("private_key_file ", files.private_key_file(), ": ", key.status().message()));
  }
  material.key = *std::move(key);

  identity::TrustBundleSet::Builder bundles;
  for (const auto& bundle : files.trust_bundles()) {
    ASSIGN_OR_RETURN(std::string pem, files::ReadSmallFile(bundle.file(), "trust_bundles"));
    if (absl::Status s = bundles.AddPem(bundle.trust_domain(), pem); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("trust bundle ", bundle.file(), " (",
                                                     bundle.trust_domain(), "): ", s.message()));
    }
  }
  material.bundles = bundles.Build();
  return material;
}

absl::StatusOr<std::unique_ptr<FileSource>> FileSource::Start(
    const config::v1::FileIdentitySource& files, CredentialStore* store, ReloadObserver observer,
    absl::Duration settle) {
  std::unique_ptr<FileSource> source(new FileSource(files, store, std::move(observer), settle));
  source->inotify_.Reset(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!source->inotify_.valid()) {
    return absl::InternalError(absl::StrCat("inotify_init1: ", std::strerror(errno)));
  }
  source->stop_.Reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!source->stop_.valid()) {
    return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
  }
  std::set<std::string> directories;
  directories.insert(DirectoryOf(files.certificate_chain_file()));
  directories.insert(DirectoryOf(files.private_key_file()));
  for (const auto& bundle : files.trust_bundles()) directories.insert(DirectoryOf(bundle.file()));
  for (const std::string& dir : directories) {
    const uint32_t mask =
        IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVE_SELF | IN_ATTRIB;
    if (inotify_add_watch(source->inotify_.get(), dir.c_str(), mask) < 0) {
      return absl::NotFoundError(
          absl::StrCat("cannot watch folder ", dir, ": ", std::strerror(errno)));
    }
  }
  source->Reload();
  source->thread_ = std::thread([s = source.get()] { s->Watch(); });
  return source;
}

FileSource::FileSource(config::v1::FileIdentitySource files, CredentialStore* store,
                       ReloadObserver observer, absl::Duration settle)
    : files_(std::move(files)), store_(store), observer_(std::move(observer)), settle_(settle) {}

FileSource::~FileSource() {
  const uint64_t one = 1;
  (void)!write(stop_.get(), &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
}

void FileSource::Reload() {
  // Unchanged files (a touch, an unrelated file in the folder) cost nothing
  // more: the store leaves an identical snapshot alone.
  absl::StatusOr<CredentialMaterial> material = LoadCredentialFiles(files_);
  const absl::Status status =
      material.ok() ? store_->Update(*std::move(material)) : material.status();
  ++reloads_;
  if (observer_) observer_(status);
}

void FileSource::Watch() {
  pollfd fds[2] = {{inotify_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
  bool pending = false;
  for (;;) {
    // After a change, wait for the writer to finish its set of files.
    const int timeout_ms = pending ? static_cast<int>(absl::ToInt64Milliseconds(settle_)) : -1;
    const int n = poll(fds, 2, timeout_ms);
    if (n < 0 && errno != EINTR) return;
    if (fds[1].revents & POLLIN) return;
    if (n > 0 && (fds[0].revents & POLLIN)) {
      alignas(inotify_event) char buf[8192];
      while (read(inotify_.get(), buf, sizeof(buf)) > 0) {
      }
      pending = true;
      continue;
    }
    if (n == 0 && pending) {
      pending = false;
      Reload();
    }
  }
}

}  // namespace palisade::credentials
