// The spiffe_id fuzzer's harness on its named seeds: the valid IDs are
// accepted and every invalid one is refused naming its rule. The fuzzer's
// invariants only bite on accepted inputs, so this is what fails if the
// parser refused everything.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "tests/fuzz/seed_files.h"
#include "tests/fuzz/spiffe_id_fuzzer.h"

namespace palisade::fuzz {
namespace {

using ::testing::HasSubstr;

constexpr char kCorpus[] = "tests/fuzz/corpus/spiffe_id";

// Seed -> "" when valid, else what the refusal must say.
const std::map<std::string, std::string>& Expected() {
  static const auto* expected = new std::map<std::string, std::string>{
      {"valid_path", ""},
      {"all_allowed_chars", ""},
      {"trust_domain_only", ""},
      {"dot_segment", "path contains a '.' or '..' segment"},
      {"dotdot_segment", "path contains a '.' or '..' segment"},
      {"empty_segment", "path contains an empty segment"},
      {"fragment", "fragment is not allowed"},
      {"https_scheme", "scheme must be \"spiffe://\""},
      {"missing_trust_domain", "trust domain is missing"},
      {"percent_encoding", "percent-encoding is not allowed"},
      {"port", "port is not allowed"},
      {"query", "query is not allowed"},
      {"root_trailing_slash", "path has a trailing slash"},
      {"trailing_slash", "path has a trailing slash"},
      {"uppercase_scheme", "scheme must be lowercase"},
      {"userinfo", "userinfo is not allowed"},
  };
  return *expected;
}

TEST(SpiffeIdSeedsTest, EachNamedSeedGetsTheVerdictItWasMadeFor) {
  const std::map<std::string, std::string> seeds = NamedSeeds(kCorpus);
  ASSERT_FALSE(seeds.empty()) << "no seeds in " << kCorpus;
  for (const auto& [name, data] : seeds) {
    const auto expected = Expected().find(name);
    ASSERT_NE(expected, Expected().end()) << "seed " << name << " has no expected verdict here";
    const absl::StatusOr<identity::SpiffeId> id = FuzzSpiffeId(data);
    if (expected->second.empty()) {
      EXPECT_TRUE(id.ok()) << name << ": " << id.status();
      if (id.ok()) EXPECT_EQ(id->ToString(), data);
    } else {
      EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument) << name;
      EXPECT_THAT(std::string(id.status().message()), HasSubstr(expected->second)) << name;
    }
  }
}

TEST(SpiffeIdSeedsTest, EverySeedThisTestExpectsIsInTheCorpus) {
  const std::map<std::string, std::string> seeds = NamedSeeds(kCorpus);
  int valid = 0;
  for (const auto& [name, message] : Expected()) {
    EXPECT_EQ(seeds.count(name), 1u) << name << " is missing from " << kCorpus;
    valid += message.empty();
  }
  EXPECT_GE(valid, 3);
}

}  // namespace
}  // namespace palisade::fuzz
