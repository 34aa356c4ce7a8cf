// The pem_bundle fuzzer's harness on its named seeds: valid bundles, chains
// and keys are read, broken PEM is refused. The fuzzer's invariants only bite
// on accepted inputs, so this is what fails if the readers refused everything.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "tests/fuzz/pem_bundle_fuzzer.h"
#include "tests/fuzz/seed_files.h"

namespace palisade::fuzz {
namespace {

using ::testing::HasSubstr;

constexpr char kCorpus[] = "tests/fuzz/corpus/pem_bundle";

// What each reader must make of a seed.
struct Expectation {
  size_t certificates;  // 0: ParsePemCertificates refuses it, saying `refusal`
  bool bundle;          // AddPem accepts it
  bool key;             // ParsePrivateKeyPem accepts it
  std::string refusal = "";
};

const std::map<std::string, Expectation>& Expected() {
  static const auto* expected = new std::map<std::string, Expectation>{
      {"one_root", {1, true, false}},
      {"two_roots_with_comments", {2, true, false}},
      {"chain", {2, false, false}},  // a leaf is no trust anchor
      {"root_and_key", {0, false, true, "PEM block 1 is a \"PRIVATE KEY\""}},
      {"key_only", {0, false, true, "PEM block 0 is a \"PRIVATE KEY\""}},
      {"truncated", {0, false, false, "BAD_END_LINE"}},
      {"bad_base64", {0, false, false, "BAD_BASE64_DECODE"}},
      {"empty_block", {0, false, false, "PEM block 0 is malformed"}},
  };
  return *expected;
}

TEST(PemBundleSeedsTest, EachNamedSeedGetsTheVerdictItWasMadeFor) {
  const std::map<std::string, std::string> seeds = NamedSeeds(kCorpus);
  ASSERT_FALSE(seeds.empty()) << "no seeds in " << kCorpus;
  for (const auto& [name, data] : seeds) {
    const auto expected = Expected().find(name);
    ASSERT_NE(expected, Expected().end()) << "seed " << name << " has no expected verdict here";
    const PemVerdict verdict = FuzzPemBundle(data);
    EXPECT_EQ(verdict.certificates.ok(), expected->second.certificates > 0)
        << name << ": " << verdict.certificates;
    EXPECT_EQ(verdict.certificate_count, expected->second.certificates) << name;
    EXPECT_THAT(std::string(verdict.certificates.message()), HasSubstr(expected->second.refusal))
        << name;
    EXPECT_EQ(verdict.bundle.ok(), expected->second.bundle) << name << ": " << verdict.bundle;
    EXPECT_EQ(verdict.key.ok(), expected->second.key) << name << ": " << verdict.key;
  }
}

TEST(PemBundleSeedsTest, EverySeedThisTestExpectsIsInTheCorpus) {
  const std::map<std::string, std::string> seeds = NamedSeeds(kCorpus);
  int bundles = 0;
  for (const auto& [name, expectation] : Expected()) {
    EXPECT_EQ(seeds.count(name), 1u) << name << " is missing from " << kCorpus;
    bundles += expectation.bundle;
  }
  EXPECT_GE(bundles, 2);
}

}  // namespace
}  // namespace palisade::fuzz
