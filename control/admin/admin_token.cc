#include "control/admin/admin_token.h"

#include <openssl/rand.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "control/state/state_files.h"
#include "runtime/status/status_macros.h"

namespace palisade::control::admin {

absl::StatusOr<std::string> CreateAdminToken(const std::string& path) {
  uint8_t bytes[32];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return absl::InternalError("RAND_bytes failed");
  const std::string token = absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
  RETURN_IF_ERROR(state::WriteFileAtomically(path, token + "\n", 0600));
  return token;
}

absl::StatusOr<std::string> ReadAdminToken(const std::string& path) {
  absl::StatusOr<std::string> text = state::ReadStateFile(path);
  if (!text.ok()) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot read the admin credential: ", text.status().message(),
                     " (run as the user palisade-control serves as, and pass its --state_dir "
                     "or --admin_token_file)"));
  }
  const std::string token(absl::StripAsciiWhitespace(*text));
  if (token.size() != 64) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": not an admin credential (64 hex digits expected)"));
  }
  return token;
}

}  // namespace palisade::control::admin
