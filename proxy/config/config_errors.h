// The problems found in one configuration document: each names the field path
// an operator would look for and, when known, where it is in the YAML file.
// Every stage (YAML conversion, semantic validation) adds to one list so that
// an operator sees all mistakes at once, rendered into a single absl::Status.
#ifndef PALISADE_PROXY_CONFIG_CONFIG_ERRORS_H_
#define PALISADE_PROXY_CONFIG_CONFIG_ERRORS_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace palisade::config {

// 1-based, as editors show them.
struct SourcePosition {
  int line = 0;
  int column = 0;
};

// Where each field path ("inbound[1].timeouts.handshake") was written.
using FieldPositions = absl::flat_hash_map<std::string, SourcePosition>;

struct ConfigError {
  std::string path;         // empty: the document as a whole
  SourcePosition position;  // line 0: unknown
  std::string message;
};

// Not thread-safe; one per load.
class ConfigErrors {
 public:
  // How many problems one status lists; the rest are only counted.
  static constexpr int kDefaultMaxListed = 20;

  explicit ConfigErrors(int max_listed = kDefaultMaxListed);

  // Positions used by Add(path, message) to place errors that name a path only.
  // Not owned; must outlive this object's use.
  void set_positions(const FieldPositions* positions) { positions_ = positions; }

  void Add(absl::string_view path, SourcePosition position, absl::string_view message);
  // Places the error at `path`, or at its nearest enclosing field that was
  // written (a missing field is reported where its parent is).
  void Add(absl::string_view path, absl::string_view message);

  // True when an error names `path`, a field inside it, or a field that
  // contains it (other than the whole document): a later stage's complaint
  // about such a field is most likely a consequence of the earlier one.
  bool TouchesPath(absl::string_view path) const;

  bool empty() const { return total_ == 0; }
  int count() const { return total_; }
  // The stored errors (at most a bounded number; count() counts all).
  const std::vector<ConfigError>& errors() const { return errors_; }

  // One problem per line: `path (line L, column C): message`.
  static std::string Render(const ConfigError& error);

  // OK when empty; otherwise InvalidArgument naming `source_name` and listing
  // up to max_listed problems in the order they appear in the file (problems
  // without a position last).
  absl::Status ToStatus(absl::string_view source_name) const;

 private:
  int max_listed_;
  int total_ = 0;
  std::vector<ConfigError> errors_;
  const FieldPositions* positions_ = nullptr;
};

// "a.b[2].c" -> "a.b[2]" -> "a.b" -> "a" -> "".
absl::string_view ParentPath(absl::string_view path);

}  // namespace palisade::config

#endif  // PALISADE_PROXY_CONFIG_CONFIG_ERRORS_H_
