// A real TCP backend for tests (the echo_server binary): echoes bytes or
// answers HTTP, tells its port through a file, and records every connection
// so a test can prove a refused peer reached nothing.
#ifndef PALISADE_TESTS_UTIL_ECHO_BACKEND_H_
#define PALISADE_TESTS_UTIL_ECHO_BACKEND_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/util/process.h"

namespace palisade::testing {

// Where Bazel puts the binary in a test's runfiles.
inline constexpr char kEchoServerBinary[] = "tests/util/echo_server";

class EchoBackend {
 public:
  struct Options {
    std::string mode = "echo";  // "echo", "http" or "sink"
    std::string listen = "127.0.0.1:0";
    // Runs the server through this command, e.g. `ip netns exec <ns>`.
    std::vector<std::string> command_prefix;
  };
  // Files go to <dir>/<name>.{port,record,log}; returns once it listens.
  static absl::StatusOr<std::unique_ptr<EchoBackend>> Start(const std::string& dir,
                                                            const std::string& name,
                                                            const Options& options);
  static absl::StatusOr<std::unique_ptr<EchoBackend>> Start(const std::string& dir,
                                                            const std::string& name,
                                                            const std::string& mode = "echo");

  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // One line per event: "accept <peer>" and "close bytes=<n>".
  std::vector<std::string> Records() const;
  // Connections accepted so far (each has an accept line).
  int Accepted() const;
  Process& process() { return *process_; }

 private:
  std::unique_ptr<Process> process_;
  uint16_t port_ = 0;
  std::string record_path_;
};

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_UTIL_ECHO_BACKEND_H_
