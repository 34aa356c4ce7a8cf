#include "proxy/config/yaml_text.h"

#include <gtest/gtest.h>

namespace palisade::config {
namespace {

TEST(YamlTextTest, AcceptsOnlyDecimalIntegers) {
  for (const char* text : {"0", "-1", "+7", "0012", "18446744073709551616"}) {
    EXPECT_TRUE(IsDecimalInteger(text)) << text;
  }
  for (const char* text : {"", "-", "1.0", "0x10", "0o7", "1_000", "1e3", " 1", "1:30"}) {
    EXPECT_FALSE(IsDecimalInteger(text)) << text;
  }
}

TEST(YamlTextTest, AcceptsOnlyFiniteDecimalNumbers) {
  for (const char* text : {"1", "-1.5", ".5", "5.", "1e3", "2.5E-3", "+0.0"}) {
    EXPECT_TRUE(IsDecimalNumber(text)) << text;
  }
  for (const char* text : {"", ".", "e3", "1e", "1e+", ".inf", "nan", "1.2.3", "0x1p3", "1,5"}) {
    EXPECT_FALSE(IsDecimalNumber(text)) << text;
  }
}

TEST(YamlTextTest, ReadsOnlyYaml12Booleans) {
  bool value = false;
  EXPECT_TRUE(ParseYamlBool("True", &value));
  EXPECT_TRUE(value);
  EXPECT_TRUE(ParseYamlBool("FALSE", &value));
  EXPECT_FALSE(value);
  for (const char* text : {"yes", "no", "on", "off", "y", "1", "tRUE"}) {
    EXPECT_FALSE(ParseYamlBool(text, &value)) << text;
  }
}

TEST(YamlTextTest, TellsQuotedScalarsFromPlainOnes) {
  EXPECT_FALSE(IsQuoted(YAML::Load("5")));
  EXPECT_TRUE(IsQuoted(YAML::Load("\"5\"")));
  EXPECT_TRUE(IsQuoted(YAML::Load("'5'")));
  EXPECT_TRUE(IsQuoted(YAML::Load("!!str 5")));
}

TEST(YamlTextTest, ShowsValuesEscapedAndShortened) {
  EXPECT_EQ(Show("a\"b\n"), "\"a\\\"b\\n\"");
  EXPECT_EQ(Show(std::string(100, 'x')), "\"" + std::string(64, 'x') + "...\"");
  EXPECT_EQ(Describe(YAML::Load("{a: 1}")), "a map");
  EXPECT_EQ(Describe(YAML::Load("[1]")), "a list");
  EXPECT_EQ(Describe(YAML::Load("x")), "\"x\"");
}

TEST(YamlTextTest, PlacesNodesOneBased) {
  const YAML::Node node = YAML::Load("a:\n  b: c\n");
  const SourcePosition position = PositionOf(node["a"]["b"]);
  EXPECT_EQ(position.line, 2);
  EXPECT_EQ(position.column, 6);
}

TEST(YamlTextTest, SuggestsTheNameMostLikelyMeant) {
  const std::vector<std::string> names = {"address", "allow_non_loopback", "forward_to"};
  EXPECT_EQ(SuggestName("adress", names), "address");
  EXPECT_EQ(SuggestName("forwardTo", names), "forward_to");
  EXPECT_EQ(SuggestName("allow-non-loopback", names), "allow_non_loopback");
  EXPECT_EQ(SuggestName("colour", names), "");
  EXPECT_EQ(SuggestName("ab", names), "");
}

}  // namespace
}  // namespace palisade::config
