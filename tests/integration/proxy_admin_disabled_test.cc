// admin.enabled: false (issue 19, item 4): a real proxy with the admin server
// turned off still forwards mTLS traffic, and the only port it listens on is
// its listener's; --admin_address_file is refused, naming the flag and field.
#include <dirent.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "tests/integration/proxy_fixture.h"
#include "tests/util/loopback.h"
#include "tests/util/process.h"
#include "tests/util/proxy_process.h"
#include "tests/util/status_matchers.h"
#include "tests/util/subprocess.h"

namespace palisade::testing {
namespace {

using ::testing::AllOf;
using ::testing::Each;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// The socket inodes `pid` holds open.
std::set<std::string> SocketInodes(pid_t pid) {
  std::set<std::string> inodes;
  const std::string dir = absl::StrCat("/proc/", pid, "/fd");
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return inodes;
  while (dirent* e = ::readdir(d)) {
    char target[256];
    const ssize_t n =
        ::readlink(absl::StrCat(dir, "/", e->d_name).c_str(), target, sizeof(target) - 1);
    if (n <= 0) continue;
    absl::string_view link(target, static_cast<size_t>(n));
    if (absl::ConsumePrefix(&link, "socket:[") && absl::ConsumeSuffix(&link, "]")) {
      inodes.emplace(link);
    }
  }
  ::closedir(d);
  return inodes;
}

// Local "address:port" (hex, as /proc/net/tcp{,6} writes them) of every TCP
// socket in LISTEN that `pid` holds.
std::vector<std::string> ListeningSockets(pid_t pid) {
  const std::set<std::string> inodes = SocketInodes(pid);
  std::vector<std::string> listening;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
      // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
      if (f.size() < 10 || f[3] != "0A") continue;
      if (inodes.count(std::string(f[9])) > 0) listening.emplace_back(f[1]);
    }
  }
  return listening;
}

class ProxyAdminDisabledTest : public TwoHopMesh {};

TEST_F(ProxyAdminDisabledTest, ForwardsMtlsWithNoAdminPort) {
  StartInbound();
  const uint16_t port = PickFreeLoopbackPort();
  ASSERT_NE(port, 0);
  ProxyYaml config = IdentityConfig("frontend", kFrontendId);
  config.admin.enabled = false;
  config.admin.address.clear();  // refused with the server off
  ProxyYaml::Outbound& out = config.AddOutbound("out", absl::StrCat("127.0.0.1:", inbound_port_));
  out.address = absl::StrCat("127.0.0.1:", port);
  out.expected_peer.spiffe_id = kBackendId;
  const std::string path = dir() + "/no-admin.yaml";
  ASSERT_TRUE(WriteFile(path, config.ToString()));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Process> proxy,
                       Process::Start({kProxyBinary, "--config=" + path}, dir() + "/no-admin.log"));

  // With no /ready to ask, the first echo through it says it is up.
  std::string message(64 * 1024, '\0');
  for (size_t i = 0; i < message.size(); ++i) message[i] = static_cast<char>(i * 131 + 7);
  std::string echoed;
  ASSERT_TRUE(WaitFor(
      [&] {
        const int fd = ConnectLoopback(port, absl::Seconds(5));
        if (fd < 0) return false;
        echoed = EchoExchange(fd, message);
        ::close(fd);
        return !echoed.empty();
      },
      absl::Seconds(20), absl::Milliseconds(100)))
      << proxy->Output();
  EXPECT_EQ(echoed.size(), message.size());
  EXPECT_TRUE(echoed == message) << "the bytes came back changed";

  // Every socket it listens on is the listener's (one per worker, with
  // SO_REUSEPORT): 127.0.0.1 is 0100007F.
  EXPECT_THAT(ListeningSockets(proxy->pid()),
              AllOf(Not(IsEmpty()), Each(absl::StrFormat("0100007F:%04X", port))))
      << proxy->Output();
  EXPECT_THAT(proxy->Output(), HasSubstr("admin server disabled"));
  EXPECT_THAT(proxy->Output(), Not(HasSubstr("admin server up")));
  EXPECT_EQ(proxy->Stop(), 0) << proxy->Output();
}

TEST_F(ProxyAdminDisabledTest, RefusesAnAdminAddressFile) {
  ProxyYaml config = IdentityConfig("frontend", kFrontendId);
  config.admin.enabled = false;
  config.admin.address.clear();  // refused with the server off
  config.AddOutbound("out", "127.0.0.1:9").expected_peer.spiffe_id = kBackendId;
  const std::string path = dir() + "/no-admin.yaml";
  ASSERT_TRUE(WriteFile(path, config.ToString()));
  const CommandResult r = RunCommand(
      {kProxyBinary, "--config=" + path, "--admin_address_file=" + dir() + "/admin.addr"},
      absl::Seconds(8));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("--admin_address_file"));
  EXPECT_THAT(r.output, HasSubstr("admin.enabled is false"));
  EXPECT_THAT(r.output, Not(HasSubstr("listening")));
}

}  // namespace
}  // namespace palisade::testing
