// The re-attestation token this proxy keeps on disk (identity.control_plane.
// reattestation_token_file, mode 0600), and the choice of the credential a
// stream without an SVID presents: that token when there is one to offer,
// else the configured join or service-account token. So a spent single-use
// join token does not leave the proxy without an identity after an outage or
// a restart. The token is a bearer secret, never a key, and never logged.
#ifndef PALISADE_PROXY_IDENTITY_CLIENT_REATTESTATION_TOKEN_FILE_H_
#define PALISADE_PROXY_IDENTITY_CLIENT_REATTESTATION_TOKEN_FILE_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/palisade/config/v1/config.pb.h"
#include "proto/palisade/control/v1/control.pb.h"

namespace palisade::identity_client {

// Not thread-safe: the control-plane source's control thread owns it.
class ReattestationTokenFile {
 public:
  // The configured reattestation_token_file, or its default beside
  // join_token_file; "" when there is neither.
  static std::string PathFor(const config::v1::ControlPlaneIdentitySource& config);

  // `path` empty: none configured; Load offers nothing and Save refuses.
  explicit ReattestationTokenFile(std::string path) : path_(std::move(path)) {}
  const std::string& path() const { return path_; }

  // The token to offer: the file's content without surrounding whitespace;
  // nullopt when none is configured, the file is absent or empty, or it holds
  // the token the control plane refused (MarkRefused). Other read errors are
  // returned, naming the file.
  absl::StatusOr<std::optional<std::string>> Load() const;
  // Replaces the file atomically with `token` (mode 0600). Errors name the
  // file, never the token.
  absl::Status Save(absl::string_view token);
  // The control plane refused `token`: Load passes over it until the file
  // holds another.
  void MarkRefused(absl::string_view token);

  // Fills `hello`'s credential for a stream without an SVID: the token Load
  // offers, else the configured join or service-account token file
  // (AddBootstrapCredential). A re-attestation token file that cannot be
  // read is logged (naming it) and passed over.
  absl::Status AddCredential(const config::v1::ControlPlaneIdentitySource& config,
                             control::v1::Hello* hello) const;

 private:
  const std::string path_;
  std::string refused_sha256_;  // of the refused token; "" for none
};

}  // namespace palisade::identity_client

#endif  // PALISADE_PROXY_IDENTITY_CLIENT_REATTESTATION_TOKEN_FILE_H_
