// A real browser for tests of what a web page can make it do: Debian's
// Chromium, headless, with a fresh profile, bounded in time, and a static
// page server (python3's http.server) on a loopback address of its own, so
// that the page's origin differs from the server under test.
#ifndef PALISADE_TESTS_UTIL_HEADLESS_BROWSER_H_
#define PALISADE_TESTS_UTIL_HEADLESS_BROWSER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/util/process.h"
#include "tests/util/subprocess.h"

namespace palisade::testing {

inline constexpr char kChromium[] = "/usr/bin/chromium";

// Loads `url` in headless Chromium (a fresh profile under $TEST_TMPDIR),
// lets its scripts run for `budget` of virtual time, and returns what it
// printed: the DOM then, among Chromium's own log lines. Killed (its PID
// only) after `timeout`.
// `flags` go to Chromium as well (e.g. --host-resolver-rules=...).
CommandResult LoadPage(const std::string& url, const std::vector<std::string>& flags = {},
                       absl::Duration budget = absl::Seconds(5),
                       absl::Duration timeout = absl::Seconds(60));

// Serves the files of a directory over HTTP on `ip` (a loopback address).
class PageServer {
 public:
  static absl::StatusOr<std::unique_ptr<PageServer>> Start(const std::string& dir,
                                                           const std::string& ip = "127.0.0.2");
  ~PageServer();
  // "http://ip:port"
  const std::string& origin() const { return origin_; }

 private:
  std::unique_ptr<Process> process_;
  std::string origin_;
};

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_UTIL_HEADLESS_BROWSER_H_
