// A palisade-proxy whose admin port is taken refuses to start before it binds
// any listener, names the config field (admin.address) and the address, and
// exits with the code of every other start-up failure (issue 15, finding 8).
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "tests/integration/proxy_fixture.h"
#include "tests/util/loopback.h"
#include "tests/util/process.h"
#include "tests/util/proxy_process.h"
#include "tests/util/subprocess.h"

namespace palisade::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A loopback port held in LISTEN by this test until it ends.
class HeldPort {
 public:
  HeldPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len), 0);
    EXPECT_EQ(::listen(fd_, 1), 0);
    EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    address_ = absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));
  }
  ~HeldPort() { ::close(fd_); }
  const std::string& address() const { return address_; }

 private:
  int fd_ = -1;
  std::string address_;
};

// True when this test can bind 127.0.0.1:port itself (nobody holds it).
bool CanBind(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

class ProxyStartRefusalsTest : public TwoHopMesh {
 protected:
  // Runs the proxy with `config` until it exits (a proxy that starts is
  // killed after a few seconds: exit -1).
  CommandResult Run(const ProxyYaml& config) {
    const std::string path = absl::StrCat(dir(), "/start-", ++runs_, ".yaml");
    EXPECT_TRUE(WriteFile(path, config.ToString()));
    return RunCommand({kProxyBinary, "--config=" + path}, absl::Seconds(8));
  }

  int runs_ = 0;
};

TEST_F(ProxyStartRefusalsTest, AdminPortInUseExitsBeforeAnyListenerIsBound) {
  HeldPort admin;
  const uint16_t listener_port = PickFreeLoopbackPort();
  ASSERT_NE(listener_port, 0);
  ProxyYaml config = IdentityConfig("backend", kBackendId);
  config.admin.address = admin.address();
  config.AddInbound("in", echo_->address()).address = absl::StrCat("127.0.0.1:", listener_port);
  const CommandResult r = Run(config);

  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.exit_code, -1) << "the proxy kept running: " << r.output;
  EXPECT_THAT(r.output, HasSubstr("admin.address"));
  EXPECT_THAT(r.output, HasSubstr(admin.address()));
  // No listener was ever bound: the proxy never said it listened, and the
  // port is free now.
  EXPECT_THAT(r.output, Not(HasSubstr("listening")));
  EXPECT_TRUE(CanBind(listener_port));

  // The same exit code as a listener whose port is taken.
  HeldPort taken;
  ProxyYaml listener_taken = IdentityConfig("backend", kBackendId);
  listener_taken.AddInbound("in", echo_->address()).address = taken.address();
  const CommandResult l = Run(listener_taken);
  EXPECT_NE(l.exit_code, 0) << l.output;
  EXPECT_NE(l.exit_code, -1) << l.output;
  EXPECT_EQ(r.exit_code, l.exit_code) << r.output << "\n---\n" << l.output;
}

}  // namespace
}  // namespace palisade::testing
