#include "tests/util/sanitizer_report.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace palisade::testing {
namespace {

// "ERROR: AddressSanitizer: ...", "SUMMARY: UndefinedBehaviorSanitizer: ...":
// `prefix` followed by a word that ends in "Sanitizer".
bool HasSanitizerWordAfter(absl::string_view line, absl::string_view prefix) {
  for (size_t at = line.find(prefix); at != absl::string_view::npos;
       at = line.find(prefix, at + 1)) {
    absl::string_view rest = line.substr(at + prefix.size());
    size_t end = 0;
    while (end < rest.size() && absl::ascii_isalpha(static_cast<unsigned char>(rest[end]))) ++end;
    if (absl::EndsWith(rest.substr(0, end), "Sanitizer")) return true;
  }
  return false;
}

bool IsReportLine(absl::string_view line) {
  return HasSanitizerWordAfter(line, "ERROR: ") || HasSanitizerWordAfter(line, "SUMMARY: ") ||
         absl::StrContains(line, "WARNING: ThreadSanitizer") ||
         absl::StrContains(line, "runtime error:") ||
         // LeakSanitizer's own failure (e.g. under ptrace) also hides leaks.
         absl::StrContains(line, "Sanitizer has encountered a fatal error");
}

}  // namespace

std::optional<std::string> FindSanitizerReport(absl::string_view output, int max_lines) {
  const std::vector<absl::string_view> lines = absl::StrSplit(output, '\n');
  for (size_t i = 0; i < lines.size(); ++i) {
    if (!IsReportLine(lines[i])) continue;
    const size_t end = std::min(lines.size(), i + static_cast<size_t>(std::max(max_lines, 1)));
    std::vector<absl::string_view> excerpt(lines.begin() + i, lines.begin() + end);
    return absl::StrJoin(excerpt, "\n");
  }
  return std::nullopt;
}

}  // namespace palisade::testing
