#include "proxy/identity_client/reattestation_token_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "tests/util/process.h"
#include "tests/util/status_matchers.h"

namespace palisade::identity_client {
namespace {

using ::palisade::testing::IsOk;
using ::palisade::testing::ReadFileOrEmpty;
using ::palisade::testing::WriteFile;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kToken[] = "prt.rt-0123456789abcdef.c2VjcmV0";

class ReattestationTokenFileTest : public ::testing::Test {
 protected:
  ReattestationTokenFileTest() {
    config_.set_join_token_file(dir_ + "/join_token");
    WriteFile(config_.join_token_file(), "pjt.jt-1.join\n");
  }

  // The credential a stream without an SVID would present.
  control::v1::Hello Chosen(const ReattestationTokenFile& file) {
    control::v1::Hello hello;
    EXPECT_THAT(file.AddCredential(config_, &hello), IsOk());
    return hello;
  }

  std::string dir_ = palisade::testing::MakeTempDir("reattest");
  config::v1::ControlPlaneIdentitySource config_;
};

TEST_F(ReattestationTokenFileTest, LivesBesideTheJoinTokenUnlessConfiguredElsewhere) {
  EXPECT_EQ(ReattestationTokenFile::PathFor(config_), dir_ + "/join_token.reattest");
  config_.set_reattestation_token_file(dir_ + "/elsewhere");
  EXPECT_EQ(ReattestationTokenFile::PathFor(config_), dir_ + "/elsewhere");
  config::v1::ControlPlaneIdentitySource service_account;
  service_account.set_service_account_token_file(dir_ + "/sa");
  EXPECT_EQ(ReattestationTokenFile::PathFor(service_account), "");
}

TEST_F(ReattestationTokenFileTest, KeepsTheTokenInAFileOfMode0600) {
  const mode_t umask_before = ::umask(0);  // a permissive umask does not widen it
  ReattestationTokenFile file(ReattestationTokenFile::PathFor(config_));
  const absl::Status saved = file.Save(kToken);
  ::umask(umask_before);
  ASSERT_THAT(saved, IsOk());
  struct stat info;
  ASSERT_EQ(::stat(file.path().c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_EQ(ReadFileOrEmpty(file.path()), std::string(kToken) + "\n");
  EXPECT_NE(::access((file.path() + ".tmp").c_str(), F_OK), 0);
  auto loaded = file.Load();
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ(loaded->value_or(""), kToken);
}

TEST_F(ReattestationTokenFileTest, PrefersTheReattestationTokenToTheJoinToken) {
  ReattestationTokenFile file(ReattestationTokenFile::PathFor(config_));
  EXPECT_EQ(Chosen(file).join_token(), "pjt.jt-1.join");  // none yet
  WriteFile(file.path(), " \n");
  EXPECT_EQ(Chosen(file).join_token(), "pjt.jt-1.join");  // empty
  ASSERT_THAT(file.Save(kToken), IsOk());
  const control::v1::Hello hello = Chosen(file);
  EXPECT_EQ(hello.reattestation_token(), kToken);
  EXPECT_FALSE(hello.has_join_token());
}

TEST_F(ReattestationTokenFileTest, PrefersItToAServiceAccountTokenToo) {
  config_.set_service_account_token_file(dir_ + "/sa");
  WriteFile(config_.service_account_token_file(), "a.b.c");
  config_.set_reattestation_token_file(dir_ + "/rt");
  ReattestationTokenFile file(ReattestationTokenFile::PathFor(config_));
  EXPECT_EQ(Chosen(file).service_account_token(), "a.b.c");
  ASSERT_THAT(file.Save(kToken), IsOk());
  EXPECT_EQ(Chosen(file).reattestation_token(), kToken);
}

TEST_F(ReattestationTokenFileTest, ARefusedTokenGivesWayToTheJoinTokenUntilTheFileChanges) {
  ReattestationTokenFile file(ReattestationTokenFile::PathFor(config_));
  ASSERT_THAT(file.Save(kToken), IsOk());
  file.MarkRefused(kToken);
  EXPECT_EQ(Chosen(file).join_token(), "pjt.jt-1.join");
  EXPECT_EQ(Chosen(file).join_token(), "pjt.jt-1.join");  // and stays refused
  const std::string fresh = "prt.rt-fedcba9876543210.bmV3";
  ASSERT_THAT(file.Save(fresh), IsOk());
  EXPECT_EQ(Chosen(file).reattestation_token(), fresh);
}

TEST_F(ReattestationTokenFileTest, AnUnreadableFileIsPassedOverForTheJoinToken) {
  config_.set_reattestation_token_file(dir_ + "/a_directory");
  ASSERT_EQ(::mkdir(config_.reattestation_token_file().c_str(), 0700), 0);
  ReattestationTokenFile file(ReattestationTokenFile::PathFor(config_));
  EXPECT_THAT(file.Load(), Not(IsOk()));
  EXPECT_EQ(Chosen(file).join_token(), "pjt.jt-1.join");
}

TEST_F(ReattestationTokenFileTest, AFailedWriteNamesTheFileNotTheToken) {
  ReattestationTokenFile file(dir_ + "/missing/rt");
  const absl::Status saved = file.Save(kToken);
  EXPECT_THAT(saved, Not(IsOk()));
  EXPECT_THAT(std::string(saved.message()), HasSubstr(dir_ + "/missing/rt"));
  EXPECT_THAT(std::string(saved.message()), Not(HasSubstr("c2VjcmV0")));
  EXPECT_THAT(ReattestationTokenFile("").Save(kToken), Not(IsOk()));
}

}  // namespace
}  // namespace palisade::identity_client
