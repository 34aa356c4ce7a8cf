#include "control/auth/refusal.h"

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"

namespace palisade::control::auth {
namespace {
constexpr char kReasonUrl[] = "type.palisade.dev/refusal_reason";
}  // namespace

absl::Status Refusal(absl::StatusCode code, absl::string_view reason, absl::string_view detail) {
  absl::Status status(code, detail);
  status.SetPayload(kReasonUrl, absl::Cord(reason));
  return status;
}

std::string RefusalReason(const absl::Status& status) {
  if (status.ok()) return "";
  if (auto payload = status.GetPayload(kReasonUrl); payload.has_value()) {
    return std::string(*payload);
  }
  return absl::AsciiStrToLower(absl::StatusCodeToString(status.code()));
}

}  // namespace palisade::control::auth
