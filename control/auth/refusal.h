// A refusal: an absl::Status whose payload carries a stable reason code
// ("wrong_identity", "token_expired"...) for audit lines and metric labels,
// beside the human message.
#ifndef PALISADE_CONTROL_AUTH_REFUSAL_H_
#define PALISADE_CONTROL_AUTH_REFUSAL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace palisade::control::auth {

// Status `code` with message "<detail>" and `reason` attached.
absl::Status Refusal(absl::StatusCode code, absl::string_view reason, absl::string_view detail);

// The reason attached by Refusal; for other errors a code derived from the
// status code ("invalid_argument", "internal"...); "" for OK.
std::string RefusalReason(const absl::Status& status);

}  // namespace palisade::control::auth

#endif  // PALISADE_CONTROL_AUTH_REFUSAL_H_
