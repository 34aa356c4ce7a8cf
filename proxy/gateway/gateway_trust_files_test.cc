#include "proxy/gateway/gateway_trust_files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>

#include "runtime/sync/mutex.h"
#include "tests/util/process.h"
#include "tests/util/status_matchers.h"
#include "tests/util/test_pki.h"

namespace palisade::gateway {
namespace {

using ::palisade::testing::StatusIs;
using ::testing::HasSubstr;

class GatewayTrustFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("gateway_trust");
    testing::WriteFileOrDie(dir_ + "/ca.pem", devices_.BundlePem());
    testing::WriteFileOrDie(dir_ + "/ca.crl", testing::CrlPem(devices_.root(), {}, absl::Now()));
    gateway_.add_trust_store_files(dir_ + "/ca.pem");
    gateway_.add_crl_files(dir_ + "/ca.crl");
  }
  void Replace(const std::string& name, const std::string& contents) {
    testing::WriteFileOrDie(dir_ + "/" + name + ".new", contents);
    ASSERT_EQ(std::rename((dir_ + "/" + name + ".new").c_str(), (dir_ + "/" + name).c_str()), 0);
  }

  testing::TestPki devices_{{.trust_domain = "devices", .with_intermediate = false}};
  std::string dir_;
  config::v1::GatewayClients gateway_;
};

TEST_F(GatewayTrustFilesTest, LoadsTheTrustStoreAndCrls) {
  auto trust = LoadGatewayTrust(gateway_);
  ASSERT_TRUE(trust.ok()) << trust.status();
  EXPECT_EQ((*trust)->root_count(), 1u);
  EXPECT_EQ((*trust)->crl_count(), 1u);
}

TEST_F(GatewayTrustFilesTest, ErrorsNameTheFieldIndexAndFile) {
  gateway_.add_trust_store_files(dir_ + "/ca.crl");  // no certificate in it
  EXPECT_THAT(LoadGatewayTrust(gateway_).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("trust_store_files[1] \"" + dir_ + "/ca.crl\"")));
  gateway_.mutable_trust_store_files()->RemoveLast();
  testing::WriteFileOrDie(dir_ + "/ca.crl",
                          "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n");
  EXPECT_THAT(LoadGatewayTrust(gateway_).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("crl_files[0] \"" + dir_ + "/ca.crl\": CRL 1 does not parse")));
}

TEST_F(GatewayTrustFilesTest, PublishesAReplacedCrlAndReportsACorruptOne) {
  sync::Mutex mu;
  std::vector<size_t> published;  // CRL counts
  std::vector<std::string> refused;
  auto watch = GatewayTrustFiles::Watch(
      gateway_,
      [&](std::shared_ptr<const identity::GatewayTrust> trust) {
        sync::MutexLock lock(&mu);
        published.push_back(trust->crl_count());
      },
      [&](const absl::Status& status) {
        sync::MutexLock lock(&mu);
        refused.emplace_back(status.message());
      });
  ASSERT_TRUE(watch.ok()) << watch.status();
  Replace("ca.crl", testing::CrlPem(devices_.root(), {}, absl::Now()) +
                        testing::CrlPem(devices_.root(), {}, absl::Now()));
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        sync::MutexLock lock(&mu);
        return !published.empty() && published.back() == 2;
      },
      absl::Seconds(5)));
  Replace("ca.crl", "-----BEGIN X509 CRL-----\ngarbage\n");
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        sync::MutexLock lock(&mu);
        return !refused.empty();
      },
      absl::Seconds(5)));
  watch->reset();
  sync::MutexLock lock(&mu);
  EXPECT_THAT(refused.back(), HasSubstr("crl_files[0]"));
}

}  // namespace
}  // namespace palisade::gateway
