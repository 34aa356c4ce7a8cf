// The proxy's side of re-attestation: it keeps the token a join token's SVID
// comes with (mode 0600), presents it whenever it has no usable SVID, falls
// back to the join token when it is refused, and survives failing to keep it.
#include <sys/stat.h>

#include <algorithm>
#include <string>

#include "absl/strings/match.h"
#include "proxy/identity_client/control_plane_source.h"
#include "proxy/identity_client/control_plane_source_fixture.h"
#include "tests/util/process.h"

namespace palisade::identity_client::source_testing {
namespace {

using ::palisade::testing::ReadFileOrEmpty;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kReattestationToken[] = "prt.rt-0123456789abcdef.c2VjcmV0LXNlY3JldA";

class ReattestationTest : public ControlPlaneSourceTest {
 protected:
  std::string TokenFile() const { return dir_ + "/join_token.reattest"; }

  bool Logged(const std::string& text) {
    for (const std::string& line : sink_->lines()) {
      if (absl::StrContains(line, text)) return true;
    }
    return false;
  }
};

TEST_F(ReattestationTest, GetsAnSvidAgainWithItsTokenOnceItsOwnHasExpired) {
  fake_->IssueReattestationToken(kReattestationToken);
  fake_->SetTtl(absl::Seconds(4));
  fake_->SetRenewAfter(absl::Seconds(1));
  StartSource();
  WaitForMtlsStream();
  // Kept beside the join token, readable by this user only.
  EXPECT_EQ(ReadFileOrEmpty(TokenFile()), std::string(kReattestationToken) + "\n");
  struct stat info;
  ASSERT_EQ(::stat(TokenFile().c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_EQ(Metric("palisade_reattestation_token_writes_total{result=\"ok\"}"), 1);

  // The control plane is gone for longer than the SVID lives.
  front_->SetRefusing(true);
  ASSERT_TRUE(WaitFor([&] { return store_->Current()->not_after <= Now(); }, absl::Seconds(20)));
  const std::string expired = Serial();
  const size_t hellos = fake_->log().hellos.size();
  front_->SetRefusing(false);
  ASSERT_TRUE(fake_->WaitFor([&](const Log& log) {
    return log.hellos.size() > hellos && log.hellos.back().peer_id == kWorkloadId;
  })) << source_->status().last_error;
  const Log log = fake_->log();
  EXPECT_EQ(log.hellos[hellos].peer_id, "");
  EXPECT_EQ(log.hellos[hellos].hello.reattestation_token(), kReattestationToken);
  EXPECT_FALSE(log.hellos[hellos].hello.has_join_token());
  ASSERT_TRUE(WaitFor([&] { return Serial() != expired && store_->Current()->not_after > Now(); },
                      absl::Seconds(20)));
  // The key is still made here: only the token was ever on disk.
  EXPECT_EQ(PublicKeyDer(store_->Current()->key.get()), fake_->log().csrs.back().public_key_der);
  EXPECT_THAT(ReadFileOrEmpty(TokenFile()), Not(HasSubstr("PRIVATE KEY")));
  EXPECT_FALSE(Logged("c2VjcmV0LXNlY3JldA"));  // the token's secret is never logged
}

TEST_F(ReattestationTest, ARefusedTokenGivesWayToTheJoinTokenAndWaitsForANewFile) {
  WriteFile(TokenFile(), "prt.rt-old.b2xk\n");  // revoked since, say
  WriteFile(dir_ + "/join_token", "stale-token");
  StartSource();
  ASSERT_TRUE(fake_->WaitFor([](const Log& log) { return log.hellos.size() >= 3; }));
  Log log = fake_->log();
  EXPECT_EQ(log.hellos[0].hello.reattestation_token(), "prt.rt-old.b2xk");
  for (size_t i = 1; i < log.hellos.size(); ++i) {
    EXPECT_EQ(log.hellos[i].hello.join_token(), "stale-token") << i;
  }
  EXPECT_TRUE(Logged("refused the re-attestation token"));
  EXPECT_TRUE(Logged("rt-fake was revoked"));  // the server's reason

  // A new token in the file is offered again; once it is refused too, a
  // fresh join token written by an operator heals the proxy.
  WriteFile(TokenFile(), "prt.rt-new.bmV3\n");
  ASSERT_TRUE(fake_->WaitFor([](const Log& log) {
    return log.hellos.back().hello.reattestation_token() == "prt.rt-new.bmV3";
  }));
  WriteFile(dir_ + "/join_token", kJoinToken);
  WaitForMtlsStream();
  log = fake_->log();
  ASSERT_EQ(log.csrs.size(), 1u);
  EXPECT_TRUE(log.csrs[0].bootstrap);
  EXPECT_TRUE(std::any_of(log.hellos.begin(), log.hellos.end(),
                          [](const auto& h) { return h.hello.join_token() == kJoinToken; }));
}

TEST_F(ReattestationTest, AFailureToKeepTheTokenIsLoggedAndCountedButTheSvidIsUsed) {
  fake_->IssueReattestationToken(kReattestationToken);
  ControlPlaneSource::Options options = Options();
  options.config.set_reattestation_token_file(dir_ + "/no_such_dir/token");
  StartSource(std::move(options));
  WaitForMtlsStream();
  EXPECT_EQ(source_->status().reattestation_write_failures, 1u);
  EXPECT_EQ(source_->status().svids_installed, 1u);
  EXPECT_EQ(Metric("palisade_reattestation_token_writes_total{result=\"failed\"}"), 1);
  EXPECT_TRUE(Logged(dir_ + "/no_such_dir/token"));
  EXPECT_FALSE(Logged("c2VjcmV0LXNlY3JldA"));
}

}  // namespace
}  // namespace palisade::identity_client::source_testing
