#include "identity/boringssl_error.h"

#include <openssl/err.h>

#include "absl/strings/str_cat.h"

namespace palisade {
namespace identity {

std::string DrainBoringSslErrors() {
  std::string out;
  // A hostile input can queue many errors; a handful tell the story.
  constexpr int kMaxReported = 8;
  int reported = 0;
  while (uint32_t err = ERR_get_error()) {
    if (reported++ >= kMaxReported) continue;
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

absl::Status BoringSslError(absl::StatusCode code, absl::string_view what) {
  std::string errors = DrainBoringSslErrors();
  if (errors.empty()) return absl::Status(code, what);
  return absl::Status(code, absl::StrCat(what, ": ", errors));
}

absl::Status InternalBoringSslError(absl::string_view what) {
  return BoringSslError(absl::StatusCode::kInternal, what);
}

}  // namespace identity
}  // namespace palisade
