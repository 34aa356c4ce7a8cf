// Whether a file the configuration names is there, readable, and holds the
// kind of content it should: PEM certificates, a PEM private key, or a token;
// or, for a file the proxy writes, whether it can be there.
// The shape only; parsing certificates is the credentials layer's job.
#ifndef PALISADE_PROXY_CONFIG_FILE_CHECK_H_
#define PALISADE_PROXY_CONFIG_FILE_CHECK_H_

#include <string>

#include "absl/status/status.h"

namespace palisade::config {

enum class FileKind {
  kCertificates,  // at least one "-----BEGIN CERTIFICATE-----"
  kPrivateKey,    // a "-----BEGIN ... PRIVATE KEY-----" block
  kToken,         // anything but whitespace
  // A file the proxy writes itself (the re-attestation token): it may be
  // absent or empty, but its directory must exist, and if it exists it must
  // be a regular file the proxy can read.
  kWrittenByProxy,
};

// OK, or an error whose message names the file and the problem (the OS error
// when it cannot be opened or read; files::ReadSmallFile's limits apply, so
// a FIFO is refused, never waited on).
absl::Status CheckConfigFile(const std::string& file, FileKind kind);

}  // namespace palisade::config

#endif  // PALISADE_PROXY_CONFIG_FILE_CHECK_H_
