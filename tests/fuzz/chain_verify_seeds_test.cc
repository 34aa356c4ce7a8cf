// The chain_verify fuzzer's harness on its named seeds: the valid chains are
// accepted and every broken one is refused for the reason its name gives. The
// fuzzer's invariants only bite on accepted inputs, so this is what fails if
// the verifier (or the harness) refused everything.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "identity/verify_reason.h"
#include "tests/fuzz/chain_verify_fuzzer.h"
#include "tests/fuzz/seed_files.h"

namespace palisade::fuzz {
namespace {

using identity::VerifyReason;

constexpr char kCorpus[] = "tests/fuzz/corpus/chain_verify";

// Seed -> the verdict make_seed_corpus.cc made it for.
const std::map<std::string, VerifyReason>& Expected() {
  static const auto* expected = new std::map<std::string, VerifyReason>{
      {"valid_two_level", VerifyReason::kOk},
      {"valid_three_level", VerifyReason::kOk},
      {"valid_as_client", VerifyReason::kOk},
      {"valid_as_server_with_skew", VerifyReason::kOk},
      {"valid_with_root_sent", VerifyReason::kOk},
      {"expired_leaf", VerifyReason::kExpired},
      {"sha1_leaf", VerifyReason::kWeakSignature},
      {"ca_leaf", VerifyReason::kLeafIsCa},
      {"no_uri_san", VerifyReason::kBadSpiffeId},
      {"two_uri_sans", VerifyReason::kBadSpiffeId},
      {"rsa1024_leaf", VerifyReason::kWeakKey},
      {"server_eku_as_client", VerifyReason::kBadKeyUsage},
      {"foreign_root", VerifyReason::kUntrustedChain},
      {"name_constraint_violation", VerifyReason::kUntrustedChain},
      {"intermediate_not_ca", VerifyReason::kUntrustedChain},
      {"garbage", VerifyReason::kMalformedCertificate},
  };
  return *expected;
}

TEST(ChainVerifySeedsTest, EachNamedSeedGetsTheVerdictItWasMadeFor) {
  const std::map<std::string, std::string> seeds = NamedSeeds(kCorpus);
  ASSERT_FALSE(seeds.empty()) << "no seeds in " << kCorpus;
  for (const auto& [name, data] : seeds) {
    const auto expected = Expected().find(name);
    ASSERT_NE(expected, Expected().end()) << "seed " << name << " has no expected verdict here";
    const std::optional<identity::SvidVerification> result = FuzzChainVerify(data);
    ASSERT_TRUE(result.has_value()) << name << " holds no certificate";
    EXPECT_EQ(result->reason, expected->second) << name << ": " << result->detail;
  }
}

TEST(ChainVerifySeedsTest, EverySeedThisTestExpectsIsInTheCorpus) {
  const std::map<std::string, std::string> seeds = NamedSeeds(kCorpus);
  int accepted = 0;
  for (const auto& [name, reason] : Expected()) {
    EXPECT_EQ(seeds.count(name), 1u) << name << " is missing from " << kCorpus;
    accepted += reason == VerifyReason::kOk;
  }
  EXPECT_GE(accepted, 5);
}

TEST(ChainVerifySeedsTest, AValidChainNamesTheLeafsSpiffeId) {
  const std::string data = NamedSeeds(kCorpus).at("valid_three_level");
  const std::optional<identity::SvidVerification> result = FuzzChainVerify(data);
  ASSERT_TRUE(result.has_value() && result->ok());
  EXPECT_EQ(result->svid->spiffe_id.ToString(), "spiffe://example.org/ns/shop/sa/cart");
}

}  // namespace
}  // namespace palisade::fuzz
