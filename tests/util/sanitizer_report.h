// Finds the reports that AddressSanitizer, LeakSanitizer, UBSan and
// ThreadSanitizer write to a process's stderr, so that a test fails on them
// even when the process exited the way the test expected.
#ifndef PALISADE_TESTS_UTIL_SANITIZER_REPORT_H_
#define PALISADE_TESTS_UTIL_SANITIZER_REPORT_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace palisade::testing {

// The first sanitizer report in `output`: its first line and at most
// `max_lines` - 1 lines after it. nullopt when there is none.
std::optional<std::string> FindSanitizerReport(absl::string_view output, int max_lines = 30);

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_UTIL_SANITIZER_REPORT_H_
