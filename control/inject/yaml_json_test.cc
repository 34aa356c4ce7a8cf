#include "control/inject/yaml_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/util/status_matchers.h"

namespace palisade::inject {
namespace {

using ::palisade::testing::StatusIs;

Json FromYaml(const std::string& text) {
  absl::StatusOr<Json> json = YamlToJson(YAML::Load(text));
  EXPECT_TRUE(json.ok()) << json.status();
  return json.ok() ? *json : Json();
}

TEST(YamlJsonTest, TypesPlainScalarsAsKubectlDoes) {
  const Json j = FromYaml(R"(
port: 8080
ratio: 0.5
big: 1e3
octal: 0644
hex: 0x1F
on: yes
off: Off
none: ~
empty:
name: cart
version: 1.2.3
)");
  EXPECT_EQ(j["port"], 8080);
  EXPECT_EQ(j["ratio"], 0.5);
  EXPECT_EQ(j["big"], 1000.0);
  EXPECT_EQ(j["octal"], 420);
  EXPECT_EQ(j["hex"], 31);
  EXPECT_EQ(j["on"], true);
  EXPECT_EQ(j["off"], false);
  EXPECT_TRUE(j["none"].is_null());
  EXPECT_TRUE(j["empty"].is_null());
  EXPECT_EQ(j["name"], "cart");
  EXPECT_EQ(j["version"], "1.2.3");
}

TEST(YamlJsonTest, KeepsQuotedAndBlockScalarsAsStrings) {
  const Json j = FromYaml("a: \"8080\"\nb: 'true'\nc: |\n  line\nd: !!str 12\n");
  EXPECT_EQ(j["a"], "8080");
  EXPECT_EQ(j["b"], "true");
  EXPECT_EQ(j["c"], "line\n");
  EXPECT_EQ(j["d"], "12");
}

TEST(YamlJsonTest, KeepsFieldOrder) {
  const Json j = FromYaml("zeta: 1\nalpha: 2\nmid: 3\n");
  std::vector<std::string> keys;
  for (const auto& [key, value] : j.items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"zeta", "alpha", "mid"}));
}

TEST(YamlJsonTest, RefusesMapKeysThatAreNotScalars) {
  EXPECT_THAT(YamlToJson(YAML::Load("? [a, b]\n: c\n")),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// Everything written reads back as the same value, however odd the strings.
TEST(YamlJsonTest, WritesYamlThatReadsBackToTheSameValue) {
  const Json value = {{"strings",
                       {"8080",
                        "true",
                        "yes",
                        "n",
                        "null",
                        "~",
                        "",
                        " padded ",
                        "-",
                        "-q",
                        "--flag=x",
                        "- item",
                        "a: b",
                        "a #b",
                        "#x",
                        "*ref",
                        "&a",
                        "!tag",
                        "@x",
                        "%x",
                        "'q'",
                        "\"d\"",
                        "{x}",
                        "[x]",
                        "x:",
                        "0644",
                        "0x1F",
                        "1e3",
                        "1.2.3",
                        "tab\there",
                        "two\nlines\n",
                        "no trailing\nnewline",
                        "two trailing\n\n",
                        " leading space\n",
                        "unicode é ✓"}},
                      {"numbers", {0, -5, 8080, 0.5, 1e20, -2.25, 9007199254740993ULL}},
                      {"bools", {true, false}},
                      {"null", nullptr},
                      {"empty_map", Json::object()},
                      {"empty_list", Json::array()},
                      {"nested", {{"a", {{"b", {1, {{"c", "d"}}}}}}}},
                      {"palisade.dev/injected", "true"},
                      {"true", "key that looks like a bool"}};
  const std::string yaml = JsonToYaml(value);
  EXPECT_EQ(FromYaml(yaml), value) << yaml;
}

TEST(YamlJsonTest, WritesMultiLineScriptsAsLiteralBlocks) {
  const std::string yaml = JsonToYaml(Json{{"script", "while true; do\n  sleep 5\ndone\n"}});
  EXPECT_EQ(yaml, "script: |\n  while true; do\n    sleep 5\n  done\n");
}

TEST(YamlJsonTest, WritesDashedArgumentsPlain) {
  EXPECT_EQ(JsonToYaml(Json{{"args", {"--proxy-uid", "1337"}}}),
            "args:\n  - --proxy-uid\n  - \"1337\"\n");
}

}  // namespace
}  // namespace palisade::inject
