#include "tests/util/headless_browser.h"

#include <signal.h>

#include "absl/strings/str_cat.h"
#include "tests/util/loopback.h"

namespace palisade::testing {

CommandResult LoadPage(const std::string& url, const std::vector<std::string>& flags,
                       absl::Duration budget, absl::Duration timeout) {
  const std::string profile = MakeTempDir("chromium-profile");
  std::vector<std::string> argv = {
      kChromium,
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--no-first-run",
      "--disable-sync",
      "--disable-background-networking",
      "--disable-component-update",
      "--user-data-dir=" + profile,
      absl::StrCat("--virtual-time-budget=", absl::ToInt64Milliseconds(budget))};
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.insert(argv.end(), {"--dump-dom", url});
  return RunCommand(argv, timeout);
}

absl::StatusOr<std::unique_ptr<PageServer>> PageServer::Start(const std::string& dir,
                                                              const std::string& ip) {
  auto server = std::make_unique<PageServer>();
  // A port free on 127.0.0.1 is almost always free on 127.0.0.2 too; a
  // taken one shows as a server that never answers, and the next try differs.
  for (int attempt = 0; attempt < 5; ++attempt) {
    const uint16_t port = PickFreeLoopbackPort();
    if (port == 0) continue;
    absl::StatusOr<std::unique_ptr<Process>> process = Process::Start(
        {"python3", "-m", "http.server", "--bind", ip, std::to_string(port), "--directory", dir},
        dir + "/../page-server.log");
    if (!process.ok()) return process.status();
    server->origin_ = absl::StrCat("http://", ip, ":", port);
    // python3 ends on SIGTERM by the signal: that is how we stop it.
    (*process)->ExpectExit(128 + SIGTERM);
    if (WaitFor([&] { return HttpGet(server->origin_ + "/").status == 200; }, absl::Seconds(10))) {
      server->process_ = *std::move(process);
      return server;
    }
    if (!(*process)->Running()) (*process)->ExpectExit(*(*process)->Wait(absl::ZeroDuration()));
  }
  return absl::UnavailableError("python3 -m http.server did not start on " + ip);
}

PageServer::~PageServer() {
  if (process_ != nullptr) process_->Stop();
}

}  // namespace palisade::testing
