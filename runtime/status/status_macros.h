// Status propagation in the Abseil style, which Debian's Abseil does not
// ship:
//
//   RETURN_IF_ERROR(store.Write(record));           // absl::Status or StatusOr
//   ASSIGN_OR_RETURN(auto chain, ParsePem(text));   // declares `chain`
//   ASSIGN_OR_RETURN(listener_, Bind(address));     // assigns an existing name
//
// Only for passing an error on unchanged; where the caller adds words (the
// config field, the file), it writes that out.
#ifndef PALISADE_RUNTIME_STATUS_STATUS_MACROS_H_
#define PALISADE_RUNTIME_STATUS_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace palisade::status_internal {

inline const absl::Status& AsStatus(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& AsStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

}  // namespace palisade::status_internal

#define PALISADE_STATUS_CONCAT_INNER_(a, b) a##b
#define PALISADE_STATUS_CONCAT_(a, b) PALISADE_STATUS_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(expr)                                            \
  do {                                                                   \
    if (const auto& palisade_status_ = (expr);                           \
        !::palisade::status_internal::AsStatus(palisade_status_).ok()) { \
      return ::palisade::status_internal::AsStatus(palisade_status_);    \
    }                                                                    \
  } while (false)

#define ASSIGN_OR_RETURN(lhs, rexpr)                                                           \
  PALISADE_ASSIGN_OR_RETURN_IMPL_(PALISADE_STATUS_CONCAT_(palisade_status_or_, __LINE__), lhs, \
                                  rexpr)

#define PALISADE_ASSIGN_OR_RETURN_IMPL_(status_or, lhs, rexpr) \
  auto status_or = (rexpr);                                    \
  if (!status_or.ok()) return std::move(status_or).status();   \
  lhs = *std::move(status_or)

#endif  // PALISADE_RUNTIME_STATUS_STATUS_MACROS_H_
