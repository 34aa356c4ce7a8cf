// Base64url (RFC 4648 §5) without padding, as JWTs and JWKs use it. Strict:
// the decoder refuses padding, whitespace, characters outside the URL-safe
// alphabet, impossible lengths and non-zero leftover bits, so one value has
// exactly one accepted encoding.
#ifndef PALISADE_CONTROL_AUTH_BASE64URL_H_
#define PALISADE_CONTROL_AUTH_BASE64URL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace palisade::control::auth {

std::string Base64UrlEncode(absl::string_view data);
// InvalidArgument naming the first offending position.
absl::StatusOr<std::string> Base64UrlDecode(absl::string_view text);

}  // namespace palisade::control::auth

#endif  // PALISADE_CONTROL_AUTH_BASE64URL_H_
