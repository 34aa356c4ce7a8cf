#include "proxy/config/config_errors.h"

#include <algorithm>
#include <climits>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace palisade::config {
namespace {

// Bounds memory on a pathological document; count() still counts everything.
constexpr int kMaxStored = 1000;

// True when `inner` is `outer` or a field inside it.
bool IsSameOrInside(absl::string_view inner, absl::string_view outer) {
  if (!absl::StartsWith(inner, outer)) return false;
  if (inner.size() == outer.size()) return true;
  if (outer.empty()) return true;
  const char next = inner[outer.size()];
  return next == '.' || next == '[';
}

}  // namespace

absl::string_view ParentPath(absl::string_view path) {
  if (path.empty()) return path;
  if (path.back() == ']') {
    // A quoted map key may contain '.' or ']': find where the subscript opens.
    size_t open =
        absl::EndsWith(path, "\"]") ? path.rfind("[\"", path.size() - 3) : path.rfind('[');
    if (open != absl::string_view::npos) return path.substr(0, open);
    return absl::string_view();
  }
  const size_t cut = path.find_last_of(".]");
  if (cut == absl::string_view::npos) return absl::string_view();
  return path[cut] == ']' ? path.substr(0, cut + 1) : path.substr(0, cut);
}

ConfigErrors::ConfigErrors(int max_listed) : max_listed_(std::max(1, max_listed)) {}

void ConfigErrors::Add(absl::string_view path, SourcePosition position, absl::string_view message) {
  ++total_;
  if (errors_.size() < kMaxStored) {
    errors_.push_back(ConfigError{std::string(path), position, std::string(message)});
  }
}

void ConfigErrors::Add(absl::string_view path, absl::string_view message) {
  SourcePosition position;
  if (positions_ != nullptr) {
    for (absl::string_view p = path;; p = ParentPath(p)) {
      auto it = positions_->find(p);
      if (it != positions_->end()) {
        position = it->second;
        break;
      }
      if (p.empty()) break;
    }
  }
  Add(path, position, message);
}

bool ConfigErrors::TouchesPath(absl::string_view path) const {
  for (const ConfigError& error : errors_) {
    if (IsSameOrInside(path, error.path) && !error.path.empty()) return true;
    if (IsSameOrInside(error.path, path) && !path.empty()) return true;
  }
  return false;
}

std::string ConfigErrors::Render(const ConfigError& error) {
  std::string where = error.path;
  if (error.position.line > 0) {
    absl::StrAppend(&where, where.empty() ? "" : " ", "(line ", error.position.line, ", column ",
                    error.position.column, ")");
  }
  if (where.empty()) return error.message;
  return absl::StrCat(where, ": ", error.message);
}

absl::Status ConfigErrors::ToStatus(absl::string_view source_name) const {
  if (total_ == 0) return absl::OkStatus();
  if (total_ == 1) {
    return absl::InvalidArgumentError(absl::StrCat(source_name, ": ", Render(errors_[0])));
  }
  // In file order, as an operator walks the file fixing them; unplaced ones last.
  std::vector<const ConfigError*> sorted;
  for (const ConfigError& error : errors_) sorted.push_back(&error);
  std::stable_sort(sorted.begin(), sorted.end(), [](const ConfigError* a, const ConfigError* b) {
    auto key = [](const ConfigError* e) {
      return std::make_pair(e->position.line > 0 ? e->position.line : INT_MAX, e->position.column);
    };
    return key(a) < key(b);
  });
  std::string text = absl::StrCat(source_name, ": ", total_, " problems:");
  const int listed = std::min<int>(max_listed_, sorted.size());
  for (int i = 0; i < listed; ++i) absl::StrAppend(&text, "\n  ", Render(*sorted[i]));
  if (total_ > listed) {
    absl::StrAppend(&text, "\n  ... and ", total_ - listed, " more (only the first ", listed,
                    " are listed)");
  }
  return absl::InvalidArgumentError(text);
}

}  // namespace palisade::config
