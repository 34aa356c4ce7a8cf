// A palisade-proxy whose admin port is taken refuses to start before it binds
// any listener, names the config field (admin.address) and the address, and
// exits with the code of every other start-up failure (issue 15, finding 8).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

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
  EXPECT_TRUE(CanBindLoopback(listener_port));

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
