#include "proxy/credentials/file_source.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>

#include "runtime/sync/mutex.h"
#include "tests/util/test_pki.h"

namespace palisade::credentials {
namespace {

using testing::TestPki;

class FileSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::string(getenv("TEST_TMPDIR")) + "/files";
    mkdir(dir_.c_str(), 0700);
    TestPki::Options options;
    options.trust_domain = "cluster.local";
    pki_ = TestPki(options);
    pki_.WriteFiles(dir_, "svid", pki_.IssueLeaf("/ns/a/sa/b"));
    files_.set_certificate_chain_file(dir_ + "/svid.pem");
    files_.set_private_key_file(dir_ + "/svid.key");
    auto* bundle = files_.add_trust_bundles();
    bundle->set_trust_domain("cluster.local");
    bundle->set_file(dir_ + "/bundle.pem");
  }

  // Waits (10 s at most) until the observer has seen `n` reloads.
  bool WaitReloads(size_t n) {
    sync::MutexLock lock(&mutex_);
    return mutex_.AwaitWithTimeout(
        [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return outcomes_.size() >= n; }, absl::Seconds(10));
  }

  FileSource::ReloadObserver Observer() {
    return [this](const absl::Status& s) {
      sync::MutexLock lock(&mutex_);
      outcomes_.push_back(s);
      mutex_.NotifyAll();
    };
  }

  std::string dir_;
  TestPki pki_;
  config::v1::FileIdentitySource files_;
  sync::Mutex mutex_;
  std::vector<absl::Status> outcomes_ ABSL_GUARDED_BY(mutex_);
};

TEST_F(FileSourceTest, LoadsTheFilesAtStart) {
  CredentialStore store({});
  auto source = FileSource::Start(files_, &store, Observer());
  ASSERT_TRUE(source.ok()) << source.status();
  ASSERT_NE(store.Current(), nullptr);
  EXPECT_EQ(store.Current()->spiffe_id.ToString(), "spiffe://cluster.local/ns/a/sa/b");
}

TEST_F(FileSourceTest, ReloadsWhenTheFilesAreReplacedByRename) {
  CredentialStore store({});
  auto source = FileSource::Start(files_, &store, Observer());
  ASSERT_TRUE(source.ok());
  const std::string before = store.Current()->serial;
  const std::string staging = dir_ + "/staging";
  mkdir(staging.c_str(), 0700);
  pki_.WriteFiles(staging, "svid", pki_.IssueLeaf("/ns/a/sa/b"));
  std::rename((staging + "/svid.key").c_str(), (dir_ + "/svid.key").c_str());
  std::rename((staging + "/svid.pem").c_str(), (dir_ + "/svid.pem").c_str());
  ASSERT_TRUE(WaitReloads(2));
  EXPECT_NE(store.Current()->serial, before);
}

TEST_F(FileSourceTest, CorruptFileIsReportedAndTheOldSnapshotStays) {
  CredentialStore store({});
  auto source = FileSource::Start(files_, &store, Observer());
  ASSERT_TRUE(source.ok());
  const auto before = store.Current();
  testing::WriteFileOrDie(dir_ + "/svid.pem", "not a certificate\n");
  ASSERT_TRUE(WaitReloads(2));
  {
    sync::MutexLock lock(&mutex_);
    EXPECT_FALSE(outcomes_.back().ok());
    EXPECT_NE(outcomes_.back().message().find("certificate_chain_file"), std::string::npos)
        << outcomes_.back();
  }
  EXPECT_EQ(store.Current(), before);
}

TEST_F(FileSourceTest, NamesTheMissingFile) {
  files_.set_private_key_file(dir_ + "/absent.key");
  auto material = LoadCredentialFiles(files_);
  ASSERT_FALSE(material.ok());
  EXPECT_NE(material.status().message().find("absent.key"), std::string::npos);
}

}  // namespace
}  // namespace palisade::credentials
