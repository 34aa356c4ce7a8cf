#include "control/auth/jwks_refresher.h"

#include <atomic>
#include <thread>
#include <vector>

#include "control/auth/refusal.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/files/files.h"
#include "tests/util/fake_issuer.h"
#include "tests/util/process.h"
#include "tests/util/test_jwt.h"

namespace palisade::control::auth {
namespace {

using ::palisade::testing::FakeIssuer;
using ::palisade::testing::TestJwtIssuer;

class JwksRefresherTest : public ::testing::Test {
 protected:
  JwksRefresherTest()
      : dir_(palisade::testing::MakeTempDir("jwks_refresher")),
        rotated_("rsa-2", "ec-2"),
        issuer_(dir_, keys_.JwksJson()),
        verifier_(*Jwks::Parse(R"({"keys": []})"),
                  ServiceAccountVerifier::Options{"example.org", issuer_.issuer(), "palisade"}) {}

  std::unique_ptr<JwksRefresher> Refresher(JwksRefresher::Options options) {
    auto roots = verify::ServerRoots::FromPem(*files::ReadSmallFile(issuer_.ca_file(), "ca"));
    auto client = http::HttpsClient::Create(
        std::make_shared<const verify::ServerRoots>(*std::move(roots)), {});
    EXPECT_TRUE(client.ok()) << client.status();
    auto fetcher = std::make_unique<IssuerKeyFetcher>(*std::move(client),
                                                      IssuerKeyFetcher::Options{issuer_.issuer()});
    return std::make_unique<JwksRefresher>(std::move(fetcher), &verifier_, std::move(options),
                                           [this](const auto& outcome) {
                                             sync::MutexLock lock(&mu_);
                                             results_.push_back(outcome.result);
                                           });
  }
  std::string Token(const TestJwtIssuer& signer) {
    return signer.Sign(
        "ES256", TestJwtIssuer::Claims(issuer_.issuer(), "palisade", "shop", "cart", absl::Now()));
  }

  TestJwtIssuer keys_;
  std::string dir_;
  TestJwtIssuer rotated_;
  FakeIssuer issuer_;
  ServiceAccountVerifier verifier_;
  sync::Mutex mu_;
  std::vector<std::string> results_ ABSL_GUARDED_BY(mu_);
};

TEST_F(JwksRefresherTest, InstallsTheFirstSetAndKeepsItWhenAFetchGoesWrong) {
  auto refresher = Refresher({.interval = absl::Hours(1)});
  EXPECT_EQ(refresher->Start().result, "ok");
  EXPECT_TRUE(verifier_.Verify(Token(keys_), absl::Now()).ok());
  EXPECT_NE(refresher->last_success(), absl::InfinitePast());

  issuer_.SetJwks(200, "not json");
  ASSERT_TRUE(refresher->RequestRefresh());
  ASSERT_TRUE(
      palisade::testing::WaitFor([&] { return refresher->fetches() == 2; }, absl::Seconds(10)));
  EXPECT_TRUE(verifier_.Verify(Token(keys_), absl::Now()).ok());
  EXPECT_EQ(verifier_.jwks()->size(), 2u);
  sync::MutexLock lock(&mu_);
  EXPECT_EQ(results_, (std::vector<std::string>{"ok", "malformed"}));
}

TEST_F(JwksRefresherTest, RequestsWithinTheMinimumIntervalAreRefused) {
  absl::Time now = absl::Now();
  auto refresher = Refresher({.interval = absl::Hours(1),
                              .unknown_key_min_interval = absl::Seconds(10),
                              .clock = [&now] { return now; }});
  EXPECT_TRUE(refresher->RequestRefresh());
  EXPECT_FALSE(refresher->RequestRefresh());
  now += absl::Seconds(9);
  EXPECT_FALSE(refresher->RequestRefresh());
  now += absl::Seconds(1);
  EXPECT_TRUE(refresher->RequestRefresh());
}

// Tokens are verified on several threads while the refresher swaps the set
// back and forth (for ThreadSanitizer): every answer is one of the two
// possible, never a crash or a torn set. Bounded in count and time.
TEST_F(JwksRefresherTest, SwapsTheSetWhileOtherThreadsVerify) {
  auto refresher =
      Refresher({.interval = absl::Hours(1), .unknown_key_min_interval = absl::Milliseconds(1)});
  ASSERT_EQ(refresher->Start().result, "ok");
  const std::string old_token = Token(keys_);
  const std::string new_token = Token(rotated_);
  std::atomic<bool> done{false};
  std::atomic<int> unexpected{0};
  std::vector<std::thread> verifiers;
  for (int t = 0; t < 3; ++t) {
    verifiers.emplace_back([&] {
      while (!done.load()) {
        for (const std::string* token : {&old_token, &new_token}) {
          absl::StatusOr<identity::SpiffeId> id = verifier_.Verify(*token, absl::Now());
          if (!id.ok() && RefusalReason(id.status()) != "token_unknown_key") ++unexpected;
        }
      }
    });
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(3);
  for (int i = 0; i < 40 && absl::Now() < deadline; ++i) {
    issuer_.SetJwks(200, i % 2 == 0 ? rotated_.JwksJson() : keys_.JwksJson());
    const uint64_t before = refresher->fetches();
    while (!refresher->RequestRefresh()) absl::SleepFor(absl::Milliseconds(1));
    palisade::testing::WaitFor([&] { return refresher->fetches() > before; }, absl::Seconds(5));
  }
  done = true;
  for (std::thread& t : verifiers) t.join();
  refresher->Stop();
  EXPECT_EQ(unexpected.load(), 0);
  EXPECT_GE(refresher->fetches(), 3u);
}

}  // namespace
}  // namespace palisade::control::auth
