// The spiffe_bundle fuzzer's harness on its named seeds: valid documents are
// read, each broken one is refused for its reason. The fuzzer's invariants
// only bite on accepted inputs, so this is what fails if the parser refused
// everything.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "tests/fuzz/seed_files.h"
#include "tests/fuzz/spiffe_bundle_fuzzer.h"

namespace palisade::fuzz {
namespace {

using ::testing::HasSubstr;

constexpr char kCorpus[] = "tests/fuzz/corpus/spiffe_bundle";

struct Expectation {
  size_t authorities;  // 0: refused, saying `refusal`
  std::string refusal = "";
};

const std::map<std::string, Expectation>& Expected() {
  static const auto* expected = new std::map<std::string, Expectation>{
      {"one_root", {1}},
      {"ec_and_rsa_roots_and_a_jwt_key", {2}},
      {"two_certificates_in_x5c", {0, "keys[0]: x509-svid key must carry exactly one"}},
      {"leaf_not_ca", {0, "keys[0]: x5c[0] certificate is not a CA"}},
      {"kty_mismatch", {0, "keys[0]: kty \"RSA\" does not match"}},
      {"negative_refresh_hint", {0, "spiffe_refresh_hint must not be negative"}},
      {"not_json", {0, "not valid JSON"}},
  };
  return *expected;
}

TEST(SpiffeBundleSeedsTest, EachNamedSeedGetsTheVerdictItWasMadeFor) {
  const std::map<std::string, std::string> seeds = NamedSeeds(kCorpus);
  ASSERT_FALSE(seeds.empty()) << "no seeds in " << kCorpus;
  for (const auto& [name, data] : seeds) {
    const auto expected = Expected().find(name);
    ASSERT_NE(expected, Expected().end()) << "seed " << name << " has no expected verdict here";
    const SpiffeBundleVerdict verdict = FuzzSpiffeBundle(data);
    EXPECT_EQ(verdict.status.ok(), expected->second.authorities > 0)
        << name << ": " << verdict.status;
    EXPECT_EQ(verdict.authorities, expected->second.authorities) << name;
    EXPECT_THAT(std::string(verdict.status.message()), HasSubstr(expected->second.refusal)) << name;
  }
}

TEST(SpiffeBundleSeedsTest, EverySeedThisTestExpectsIsInTheCorpus) {
  const std::map<std::string, std::string> seeds = NamedSeeds(kCorpus);
  for (const auto& [name, expectation] : Expected()) {
    EXPECT_EQ(seeds.count(name), 1u) << name << " is missing from " << kCorpus;
  }
}

}  // namespace
}  // namespace palisade::fuzz
