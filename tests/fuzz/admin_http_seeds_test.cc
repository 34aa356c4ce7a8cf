// The admin_http fuzzer's harness on its named seeds: each gets the status it
// was made for. The fuzzer's invariants only bite on requests a route
// accepts, so this is what fails if the server refused everything.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "tests/fuzz/admin_http_fuzzer.h"
#include "tests/fuzz/seed_files.h"

namespace palisade::fuzz {
namespace {

constexpr char kCorpus[] = "tests/fuzz/corpus/admin_http";

// Seed -> the status of the first reply; 0: closed without one.
const std::map<std::string, int>& Expected() {
  static const auto* expected = new std::map<std::string, int>{
      {"get_metrics", 200},       {"get_metrics_by_name", 200},
      {"rebound_host", 403},      {"duplicate_host", 403},
      {"certs_with_token", 200},  {"certs_without_token", 401},
      {"drain_ok", 200},          {"drain_cross_origin", 403},
      {"drain_cross_site", 403},  {"drain_form_type", 415},
      {"drain_wrong_token", 401}, {"unknown_path", 404},
      {"wrong_method", 405},      {"garbage", 400},
      {"pipelined", 200},         {"partial_head", 0},
  };
  return *expected;
}

TEST(AdminHttpSeedsTest, EachNamedSeedGetsTheStatusItWasMadeFor) {
  const std::map<std::string, std::string> seeds = NamedSeeds(kCorpus);
  ASSERT_FALSE(seeds.empty()) << "no seeds in " << kCorpus;
  for (const auto& [name, data] : seeds) {
    const auto expected = Expected().find(name);
    ASSERT_NE(expected, Expected().end()) << "seed " << name << " has no expected status here";
    EXPECT_EQ(FuzzAdminHttp(data), expected->second) << name;
  }
}

TEST(AdminHttpSeedsTest, EverySeedThisTestExpectsIsInTheCorpus) {
  const std::map<std::string, std::string> seeds = NamedSeeds(kCorpus);
  for (const auto& [name, status] : Expected()) {
    EXPECT_EQ(seeds.count(name), 1u) << name << " is missing from " << kCorpus;
  }
}

}  // namespace
}  // namespace palisade::fuzz
