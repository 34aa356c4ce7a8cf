// The admin API's local credential: a random 256-bit token, made anew at
// every start and written 0600 to the state directory, so that only the
// service user (and root) can read it and hand it to the CLI.
#ifndef PALISADE_CONTROL_ADMIN_ADMIN_TOKEN_H_
#define PALISADE_CONTROL_ADMIN_ADMIN_TOKEN_H_

#include <string>

#include "absl/status/statusor.h"

namespace palisade::control::admin {

// The file's name in the state directory.
inline constexpr char kAdminTokenFile[] = "admin.token";

// Makes a fresh token (64 hex digits) and writes it atomically to `path`
// with mode 0600; returns it. Errors name the file.
absl::StatusOr<std::string> CreateAdminToken(const std::string& path);

// The token in `path`; errors name the file and say what to do.
absl::StatusOr<std::string> ReadAdminToken(const std::string& path);

}  // namespace palisade::control::admin

#endif  // PALISADE_CONTROL_ADMIN_ADMIN_TOKEN_H_
