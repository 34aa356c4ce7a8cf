// The JSON form of a shared record: {"schema": 1, "type": T, ...fields}.
// A record of another kind or schema, or no JSON object at all, is refused
// with FailedPrecondition naming its key: never read as empty, never
// overwritten.
#ifndef PALISADE_CONTROL_STATE_SHARED_RECORD_H_
#define PALISADE_CONTROL_STATE_SHARED_RECORD_H_

#include <nlohmann/json.hpp>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace palisade::control::state {

inline constexpr int kSharedRecordSchema = 1;

std::string EncodeSharedRecord(absl::string_view kind, nlohmann::json fields);
// The record's fields (schema and kind checked). `key` is the full key.
absl::StatusOr<nlohmann::json> DecodeSharedRecord(const std::string& key, const std::string& value,
                                                  absl::string_view kind);
// FailedPrecondition "store record <key>: <what>; refused (left as it is)".
absl::Status MalformedRecord(const std::string& key, absl::string_view what);

}  // namespace palisade::control::state

#endif  // PALISADE_CONTROL_STATE_SHARED_RECORD_H_
