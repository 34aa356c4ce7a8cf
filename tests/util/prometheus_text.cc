#include "tests/util/prometheus_text.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace palisade::testing {
namespace {

// Parses `name{a="b",c="d"} value` into labels and value.
bool ParseSample(absl::string_view line, const std::string& name,
                 std::map<std::string, std::string>* labels, double* value) {
  if (!absl::ConsumePrefix(&line, name)) return false;
  labels->clear();
  if (absl::ConsumePrefix(&line, "{")) {
    const size_t close = line.find("} ");
    if (close == absl::string_view::npos) return false;
    absl::string_view body = line.substr(0, close);
    line.remove_prefix(close + 1);
    while (!body.empty()) {
      const size_t eq = body.find("=\"");
      if (eq == absl::string_view::npos) return false;
      const std::string key(body.substr(0, eq));
      body.remove_prefix(eq + 2);
      std::string val;
      size_t i = 0;
      for (; i < body.size() && body[i] != '"'; ++i) {
        if (body[i] == '\\' && i + 1 < body.size()) ++i;
        val.push_back(body[i]);
      }
      (*labels)[key] = val;
      body.remove_prefix(std::min(body.size(), i + 1));
      absl::ConsumePrefix(&body, ",");
    }
  } else if (!absl::ConsumePrefix(&line, " ")) {
    return false;  // a longer metric name that starts with `name`
  }
  return absl::SimpleAtod(absl::StripAsciiWhitespace(line), value);
}

bool Matches(const std::map<std::string, std::string>& have,
             const std::map<std::string, std::string>& want) {
  for (const auto& [k, v] : want) {
    auto it = have.find(k);
    if (it == have.end() || it->second != v) return false;
  }
  return true;
}

}  // namespace

std::optional<double> MetricValue(const std::string& text, const std::string& name,
                                  const std::map<std::string, std::string>& labels) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    std::map<std::string, std::string> have;
    double value;
    if (ParseSample(line, name, &have, &value) && Matches(have, labels)) return value;
  }
  return std::nullopt;
}

double MetricSum(const std::string& text, const std::string& name,
                 const std::map<std::string, std::string>& labels) {
  double sum = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    std::map<std::string, std::string> have;
    double value;
    if (ParseSample(line, name, &have, &value) && Matches(have, labels)) sum += value;
  }
  return sum;
}

}  // namespace palisade::testing
