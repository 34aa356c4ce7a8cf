// The README's main job, run for a short while: deploy/local/mesh.py (what
// tools/mesh.sh runs after building) with palisade-control, three workloads
// and their proxies. Demo traffic must flow over mTLS between the expected
// identities, SVIDs must rotate, the intruder must be refused, and nothing
// the runner started may outlive it or end badly.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/util/loopback.h"
#include "tests/util/process.h"
#include "tests/util/subprocess.h"

namespace palisade::testing {
namespace {

constexpr char kFrontend[] = "spiffe://demo.local/ns/demo/sa/frontend";
constexpr char kBackend[] = "spiffe://demo.local/ns/demo/sa/backend";

bool PortOpen(int port) {
  const int fd = ConnectLoopback(static_cast<uint16_t>(port), absl::Seconds(1));
  if (fd >= 0) close(fd);
  return fd >= 0;
}

TEST(MeshDemoTest, RunsTrafficOverMtlsRotatesRefusesTheIntruderAndCleansUp) {
  const std::string dir = MakeTempDir("mesh");
  const std::string summary_path = dir + "/summary.json";
  // Short SVIDs so rotation happens within the run. Ports: the runner's own
  // choice (a free block below the ephemeral range), as for a developer.
  const CommandResult r =
      RunCommand({"python3", "deploy/local/mesh.py", "--bin-dir=.", "--svid-ttl=10s",
                  "--duration=25", "--summary=" + summary_path},
                 absl::Seconds(120));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("stopped; nothing left running."), std::string::npos) << r.output;

  const nlohmann::json summary =
      nlohmann::json::parse(ReadFileOrEmpty(summary_path), nullptr, false);
  ASSERT_FALSE(summary.is_discarded()) << r.output;
  const auto& w = summary["workloads"];
  // Demo traffic flowed through mTLS, between the expected identities.
  EXPECT_GE(w["backend"]["successes_by_peer"][kFrontend].get<int>(), 10) << summary.dump(2);
  EXPECT_GE(w["frontend"]["successes_by_peer"][kBackend].get<int>(), 10);
  EXPECT_GE(summary["callers"]["frontend"]["ok"].get<int>(), 10);
  EXPECT_EQ(summary["callers"]["frontend"]["failed"].get<int>(), 0);
  // Every workload rotated at least once (10 s SVIDs renew at about 5 s).
  for (const char* name : {"frontend", "backend", "intruder"}) {
    EXPECT_GE(w[name]["rotations"].get<int>(), 1) << name;
    EXPECT_GE(w[name]["serials_seen"].size(), 2u) << name;
  }
  // The intruder was refused by the backend's policy, visibly.
  EXPECT_GE(w["backend"]["denied"].get<int>(), 1);
  EXPECT_EQ(summary["callers"]["intruder"]["ok"].get<int>(), 0);

  // Everything it started ended cleanly on its SIGTERM, without a sanitizer
  // report (under --config=asan the binaries are sanitized).
  EXPECT_EQ(summary["exits"].size(), summary["pids"].size()) << summary["exits"].dump();
  for (const auto& [name, status] : summary["exits"].items()) {
    EXPECT_EQ(status.get<int>(), 0) << name << " exited with " << status;
  }
  EXPECT_TRUE(summary["sanitizer_reports"].empty()) << summary["sanitizer_reports"].dump(2);

  // Nothing it started is left: no process, no listening port.
  for (const auto& [name, pid] : summary["pids"].items()) {
    EXPECT_NE(kill(pid.get<int>(), 0), 0) << name << " (pid " << pid << ") still runs";
  }
  for (const auto& [name, port] : summary["ports"].items()) {
    EXPECT_FALSE(PortOpen(port.get<int>())) << name << " port " << port << " still open";
  }
}

}  // namespace
}  // namespace palisade::testing
