#include "tests/util/echo_backend.h"

#include <cstdio>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace palisade::testing {

absl::StatusOr<std::unique_ptr<EchoBackend>> EchoBackend::Start(const std::string& dir,
                                                                const std::string& name,
                                                                const Options& options) {
  auto server = std::unique_ptr<EchoBackend>(new EchoBackend());
  const std::string port_file = absl::StrCat(dir, "/", name, ".port");
  std::remove(port_file.c_str());  // a previous server's port is not ours
  server->record_path_ = absl::StrCat(dir, "/", name, ".record");
  std::vector<std::string> argv = options.command_prefix;
  argv.insert(argv.end(),
              {kEchoServerBinary, "--listen=" + options.listen, "--port_file=" + port_file,
               "--record=" + server->record_path_, "--mode=" + options.mode, "--name=" + name});
  auto process = Process::Start(argv, absl::StrCat(dir, "/", name, ".log"));
  if (!process.ok()) return process.status();
  server->process_ = *std::move(process);
  uint32_t port = 0;
  WaitFor(
      [&] {
        return absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFileOrEmpty(port_file)), &port) ||
               !server->process_->Running();
      },
      absl::Seconds(10));
  if (port == 0) {
    return absl::UnavailableError(absl::StrCat("echo server ", name, " did not start",
                                               ExitForCaller(*server->process_), ":\n",
                                               server->process_->Output()));
  }
  server->port_ = static_cast<uint16_t>(port);
  return server;
}

absl::StatusOr<std::unique_ptr<EchoBackend>> EchoBackend::Start(const std::string& dir,
                                                                const std::string& name,
                                                                const std::string& mode) {
  Options options;
  options.mode = mode;
  return Start(dir, name, options);
}

std::vector<std::string> EchoBackend::Records() const {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(ReadFileOrEmpty(record_path_), '\n')) {
    if (!line.empty()) lines.emplace_back(line);
  }
  return lines;
}

int EchoBackend::Accepted() const {
  int accepted = 0;
  for (const std::string& line : Records()) accepted += absl::StartsWith(line, "accept ") ? 1 : 0;
  return accepted;
}

}  // namespace palisade::testing
