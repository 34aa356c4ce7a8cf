// The csr fuzzer's harness on its named seeds: valid CSRs are accepted and
// signed, a CSR for another trust domain is accepted but not signed, and every
// broken one is refused naming its rule. The fuzzer's invariants only bite on
// accepted inputs, so this is what fails if the checker refused everything.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "tests/fuzz/csr_fuzzer.h"
#include "tests/fuzz/seed_files.h"

namespace palisade::fuzz {
namespace {

using ::testing::HasSubstr;

constexpr char kCorpus[] = "tests/fuzz/corpus/csr";
constexpr char kSignedId[] = "spiffe://example.org/ns/shop/sa/cart";

// Seed -> "signed", "not signed" (accepted, but the example.org CA refuses
// it), or what the refusal must say.
const std::map<std::string, std::string>& Expected() {
  static const auto* expected = new std::map<std::string, std::string>{
      {"p256", "signed"},
      {"p384", "signed"},
      {"rsa2048", "signed"},
      {"other_domain", "not signed"},
      {"uri_and_dns", "signed"},
      {"no_san", "has no URI SAN"},
      {"two_uris", "requests 2 URI SANs; exactly one is required"},
      {"sha1", "SHA-1 and MD5 based signatures are refused"},
      {"corrupt_signature", "signature does not verify"},
      {"bad_spiffe_id", "path contains an empty segment"},
      {"p224", "EC P-224 key is not allowed"},
  };
  return *expected;
}

TEST(CsrSeedsTest, EachNamedSeedGetsTheVerdictItWasMadeFor) {
  const std::map<std::string, std::string> seeds = NamedSeeds(kCorpus);
  ASSERT_FALSE(seeds.empty()) << "no seeds in " << kCorpus;
  for (const auto& [name, data] : seeds) {
    const auto expected = Expected().find(name);
    ASSERT_NE(expected, Expected().end()) << "seed " << name << " has no expected verdict here";
    const CsrVerdict verdict = FuzzCsr(data);
    if (expected->second == "signed") {
      EXPECT_TRUE(verdict.check.ok()) << name << ": " << verdict.check;
      EXPECT_TRUE(verdict.issue.ok()) << name << ": " << verdict.issue;
      EXPECT_EQ(verdict.spiffe_id, kSignedId) << name;
    } else if (expected->second == "not signed") {
      EXPECT_TRUE(verdict.check.ok()) << name << ": " << verdict.check;
      EXPECT_FALSE(verdict.issue.ok()) << name;
      EXPECT_THAT(std::string(verdict.issue.message()), HasSubstr("trust domain")) << name;
    } else {
      EXPECT_EQ(verdict.check.code(), absl::StatusCode::kInvalidArgument) << name;
      EXPECT_THAT(std::string(verdict.check.message()), HasSubstr(expected->second)) << name;
    }
  }
}

TEST(CsrSeedsTest, EverySeedThisTestExpectsIsInTheCorpus) {
  const std::map<std::string, std::string> seeds = NamedSeeds(kCorpus);
  int signed_seeds = 0;
  for (const auto& [name, verdict] : Expected()) {
    EXPECT_EQ(seeds.count(name), 1u) << name << " is missing from " << kCorpus;
    signed_seeds += verdict == "signed";
  }
  EXPECT_GE(signed_seeds, 3);
}

}  // namespace
}  // namespace palisade::fuzz
