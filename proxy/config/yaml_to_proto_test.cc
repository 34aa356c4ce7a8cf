#include "proxy/config/yaml_to_proto.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "proto/palisade/config/v1/config.pb.h"
#include "proxy/config/yaml_to_proto_test.pb.h"

namespace palisade::config {
namespace {

using ::palisade::config::testing::Kinds;
using ::palisade::config::v1::ProxyConfig;
using ::testing::HasSubstr;

// Converts `yaml` onto `message`; returns the rendered problems.
std::vector<std::string> Problems(absl::string_view yaml, google::protobuf::Message* message) {
  ConfigErrors errors;
  FieldPositions positions;
  YamlToProto(yaml, message, &errors, &positions);
  std::vector<std::string> rendered;
  for (const ConfigError& error : errors.errors()) rendered.push_back(ConfigErrors::Render(error));
  return rendered;
}

// The one problem converting `yaml` onto a Kinds finds ("" and a failure if not exactly one).
std::string OnlyProblem(absl::string_view yaml) {
  Kinds kinds;
  std::vector<std::string> problems = Problems(yaml, &kinds);
  EXPECT_EQ(problems.size(), 1u) << ::testing::PrintToString(problems);
  return problems.size() == 1 ? problems[0] : "";
}

std::string OnlyConfigProblem(absl::string_view yaml) {
  ProxyConfig config;
  std::vector<std::string> problems = Problems(yaml, &config);
  EXPECT_EQ(problems.size(), 1u) << ::testing::PrintToString(problems);
  return problems.size() == 1 ? problems[0] : "";
}

TEST(YamlToProtoTest, FillsEveryScalarKind) {
  Kinds kinds;
  ASSERT_TRUE(YamlToProto(R"(
i32: -2147483648
i64: 9223372036854775807
u32: 4294967295
u64: 18446744073709551615
d: -1.5e3
f: 0.25
b: true
s: hello world
raw: "bytes"
color: GREEN
wrapped: 7
numbers: [1, -2, +3]
colors: [RED, GREEN]
maybe: false
)",
                          "test.yaml", &kinds)
                  .ok());
  EXPECT_EQ(kinds.i32(), -2147483648);
  EXPECT_EQ(kinds.i64(), 9223372036854775807);
  EXPECT_EQ(kinds.u32(), 4294967295u);
  EXPECT_EQ(kinds.u64(), 18446744073709551615u);
  EXPECT_EQ(kinds.d(), -1500);
  EXPECT_EQ(kinds.f(), 0.25f);
  EXPECT_TRUE(kinds.b());
  EXPECT_EQ(kinds.s(), "hello world");
  EXPECT_EQ(kinds.raw(), "bytes");
  EXPECT_EQ(kinds.color(), Kinds::GREEN);
  ASSERT_TRUE(kinds.has_wrapped());
  EXPECT_EQ(kinds.wrapped().value(), 7u);
  EXPECT_THAT(kinds.numbers(), ::testing::ElementsAre(1, -2, 3));
  EXPECT_THAT(kinds.colors(), ::testing::ElementsAre(Kinds::RED, Kinds::GREEN));
  ASSERT_TRUE(kinds.has_maybe());
  EXPECT_FALSE(kinds.maybe());
}

TEST(YamlToProtoTest, ReadsDurationsWrittenWithUnits) {
  const std::pair<const char*, int64_t> cases[] = {{"250ms", 250},  {"10s", 10000},
                                                   {"1.5m", 90000}, {"1h", 3600000},
                                                   {"0s", 0},       {"1h30m", 5400000}};
  for (const auto& [text, millis] : cases) {
    Kinds kinds;
    ASSERT_TRUE(YamlToProto(absl::StrCat("timeout: ", text), "test.yaml", &kinds).ok()) << text;
    EXPECT_TRUE(kinds.has_timeout());
    EXPECT_EQ(kinds.timeout().seconds() * 1000 + kinds.timeout().nanos() / 1000000, millis) << text;
  }
}

TEST(YamlToProtoTest, KeepsSubSecondDurationsInNanos) {
  Kinds kinds;
  ASSERT_TRUE(YamlToProto("timeout: 1.000000001s", "test.yaml", &kinds).ok());
  EXPECT_EQ(kinds.timeout().seconds(), 1);
  EXPECT_EQ(kinds.timeout().nanos(), 1);
}

TEST(YamlToProtoTest, NamesThePathAndPositionOfAMalformedDuration) {
  EXPECT_EQ(OnlyConfigProblem(R"(
inbound:
  - name: a
  - name: b
    timeouts:
      handshake: 10x
)"),
            "inbound[1].timeouts.handshake (line 6, column 18): \"10x\" is not a duration; "
            "write e.g. \"500ms\", \"10s\" or \"2m\"");
}

TEST(YamlToProtoTest, RefusesANegativeDuration) {
  EXPECT_EQ(OnlyProblem("timeout: -5s"),
            "timeout (line 1, column 10): \"-5s\" is negative; a duration must be zero or more");
}

TEST(YamlToProtoTest, RefusesADurationWithoutAUnit) {
  EXPECT_THAT(OnlyProblem("timeout: 10"), HasSubstr("timeout (line 1, column 10): 10 has no unit"));
}

TEST(YamlToProtoTest, RefusesAnInfiniteOrHugeDuration) {
  EXPECT_THAT(OnlyProblem("timeout: inf"), HasSubstr("\"inf\" is too long"));
  EXPECT_THAT(OnlyProblem("timeout: 100000000000h"), HasSubstr("is too long"));
}

TEST(YamlToProtoTest, RefusesAnUnknownFieldListingTheKnownOnes) {
  EXPECT_EQ(OnlyConfigProblem("admin:\n  adress: 127.0.0.1:15000\n"),
            "admin.adress (line 2, column 3): unknown field (did you mean address?); "
            "known fields: address, allow_non_loopback, public_address, enabled");
}

TEST(YamlToProtoTest, SuggestsTheSnakeCaseNameForACamelCaseKey) {
  EXPECT_THAT(OnlyConfigProblem("inbound:\n  - forwardTo: 127.0.0.1:8080\n"),
              HasSubstr("inbound[0].forwardTo (line 2, column 5): unknown field (did you mean "
                        "forward_to?)"));
}

TEST(YamlToProtoTest, OffersNoSuggestionForAnUnrelatedKey) {
  EXPECT_EQ(OnlyConfigProblem("admin:\n  colour: red\n"),
            "admin.colour (line 2, column 3): unknown field; known fields: address, "
            "allow_non_loopback, public_address, enabled");
}

TEST(YamlToProtoTest, RefusesAMapWhereAScalarBelongs) {
  EXPECT_EQ(OnlyProblem("s:\n  nested: 1\n"), "s (line 2, column 3): expected a string, got a map");
  EXPECT_EQ(OnlyProblem("u32: [1]"),
            "u32 (line 1, column 6): expected a whole number (uint32), got a list");
}

TEST(YamlToProtoTest, RefusesAScalarWhereAMapBelongs) {
  EXPECT_EQ(OnlyConfigProblem("admin: 127.0.0.1:15000"),
            "admin (line 1, column 8): expected a map of fields, got \"127.0.0.1:15000\"");
}

TEST(YamlToProtoTest, RefusesAScalarWhereAListBelongs) {
  EXPECT_EQ(OnlyProblem("numbers: 5"), "numbers (line 1, column 10): expected a list, got \"5\"");
}

TEST(YamlToProtoTest, RefusesTextForANumber) {
  EXPECT_EQ(OnlyProblem("u32: abc"),
            "u32 (line 1, column 6): \"abc\" is not a number; expected a whole number (uint32)");
  EXPECT_THAT(OnlyProblem("d: nan"), HasSubstr("\"nan\" is not a number"));
  EXPECT_THAT(OnlyProblem("d: .inf"), HasSubstr("\".inf\" is not a number"));
  EXPECT_THAT(OnlyProblem("i32: 0x10"), HasSubstr("\"0x10\" is not a number"));
}

TEST(YamlToProtoTest, RefusesANegativeNumberForAnUnsignedField) {
  EXPECT_EQ(OnlyProblem("u32: -1"),
            "u32 (line 1, column 6): -1 is negative; expected uint32 (0 to 4294967295)");
  EXPECT_THAT(OnlyProblem("u64: -5"), HasSubstr("-5 is negative"));
}

TEST(YamlToProtoTest, AcceptsMinusZeroForAnUnsignedField) {
  Kinds kinds;
  EXPECT_TRUE(YamlToProto("u32: -0", "test.yaml", &kinds).ok());
}

TEST(YamlToProtoTest, RefusesAFractionForAnInteger) {
  EXPECT_EQ(OnlyProblem("i32: 1.5"),
            "i32 (line 1, column 6): 1.5 is not a whole number; expected a whole number (int32)");
}

TEST(YamlToProtoTest, RefusesNumbersOutsideTheFieldsRange) {
  EXPECT_EQ(OnlyProblem("u32: 4294967296"),
            "u32 (line 1, column 6): 4294967296 is out of range for uint32 (0 to 4294967295)");
  EXPECT_THAT(OnlyProblem("i32: 2147483648"),
              HasSubstr("2147483648 is out of range for int32 (-2147483648 to 2147483647)"));
  EXPECT_THAT(OnlyProblem("i32: -2147483649"), HasSubstr("is out of range for int32"));
  EXPECT_THAT(OnlyProblem("i64: 9223372036854775808"), HasSubstr("is out of range for int64"));
  EXPECT_THAT(OnlyProblem("u64: 18446744073709551616"), HasSubstr("is out of range for uint64"));
  EXPECT_THAT(OnlyProblem("d: 1e400"), HasSubstr("1e400 is out of range for double"));
  EXPECT_THAT(OnlyProblem("f: 1e39"), HasSubstr("1e39 is out of range for float"));
  EXPECT_THAT(OnlyProblem("wrapped: -3"), HasSubstr("wrapped (line 1, column 10): -3 is negative"));
}

TEST(YamlToProtoTest, RefusesAQuotedNumber) {
  EXPECT_EQ(OnlyProblem("u32: \"5\""),
            "u32 (line 1, column 6): \"5\" is quoted, so it is a string; expected a whole number "
            "(uint32) (write it without quotes)");
}

TEST(YamlToProtoTest, RefusesAnythingButTrueOrFalseForABool) {
  for (const char* text : {"yes", "on", "1", "\"true\"", "y"}) {
    EXPECT_THAT(OnlyProblem(absl::StrCat("b: ", text)),
                HasSubstr("b (line 1, column 4): expected true or false, got"))
        << text;
  }
}

TEST(YamlToProtoTest, TakesEnumValuesByName) {
  Kinds kinds;
  ASSERT_TRUE(YamlToProto("color: RED", "test.yaml", &kinds).ok());
  EXPECT_EQ(kinds.color(), Kinds::RED);
  EXPECT_EQ(OnlyProblem("color: BLUE"),
            "color (line 1, column 8): \"BLUE\" is not one of: COLOR_UNSPECIFIED, RED, GREEN");
  EXPECT_THAT(OnlyProblem("color: 1"), HasSubstr("\"1\" is not one of"));
}

TEST(YamlToProtoTest, RefusesAFieldWrittenTwice) {
  EXPECT_EQ(OnlyProblem("s: a\nb: true\ns: b\n"),
            "s (line 3, column 1): duplicate field; first set at line 1, column 1");
}

TEST(YamlToProtoTest, RefusesTwoMembersOfOneOneofNamingBoth) {
  const std::string problem = OnlyConfigProblem(R"(
identity:
  files:
    certificate_chain_file: a.pem
  control_plane:
    address: cp:15012
)");
  EXPECT_EQ(problem,
            "identity.control_plane (line 5, column 3): cannot be set together with "
            "identity.files (line 3); files, control_plane are alternatives: set only one");
}

TEST(YamlToProtoTest, RefusesTwoBootstrapCredentials) {
  EXPECT_THAT(OnlyConfigProblem(R"(
identity:
  control_plane:
    join_token_file: /a
    service_account_token_file: /b
)"),
              HasSubstr("identity.control_plane.service_account_token_file (line 5, column 5): "
                        "cannot be set together with identity.control_plane.join_token_file "
                        "(line 4); join_token_file, service_account_token_file are "
                        "alternatives"));
}

TEST(YamlToProtoTest, RefusesTwoMembersOfOneOneofOfDifferentKinds) {
  EXPECT_THAT(OnlyProblem("first: x\nsecond: {}\n"),
              HasSubstr("second (line 2, column 1): cannot be set together with first (line 1)"));
}

TEST(YamlToProtoTest, FillsMapFields) {
  Kinds kinds;
  ASSERT_TRUE(YamlToProto("by_name:\n  a: {s: x}\n  b: {u32: 2}\nby_number:\n  7: seven\n",
                          "test.yaml", &kinds)
                  .ok());
  ASSERT_EQ(kinds.by_name().size(), 2u);
  EXPECT_EQ(kinds.by_name().at("a").s(), "x");
  EXPECT_EQ(kinds.by_name().at("b").u32(), 2u);
  EXPECT_EQ(kinds.by_number().at(7), "seven");
}

TEST(YamlToProtoTest, RefusesADuplicateOrMistypedMapKey) {
  EXPECT_EQ(OnlyProblem("by_name:\n  a: {}\n  a: {}\n"),
            "by_name[\"a\"] (line 3, column 3): duplicate key; first set at line 2, column 3");
  EXPECT_THAT(OnlyProblem("by_number:\n  x: seven\n"),
              HasSubstr("by_number[\"x\"] (line 2, column 3): \"x\" is not a number"));
}

TEST(YamlToProtoTest, NamesTheListIndexOfABadElement) {
  EXPECT_EQ(OnlyProblem("children:\n  - u32: 1\n  - u32: x\n"),
            "children[1].u32 (line 3, column 10): \"x\" is not a number; expected a whole number "
            "(uint32)");
  EXPECT_EQ(OnlyProblem("numbers: [1, 2, z]"),
            "numbers[2] (line 1, column 17): \"z\" is not a number; expected a whole number "
            "(int32)");
}

TEST(YamlToProtoTest, RefusesAnEmptyListItem) {
  EXPECT_EQ(OnlyProblem("numbers:\n  - 1\n  -\n"),
            "numbers[1] (line 2, column 3): empty list item");
}

TEST(YamlToProtoTest, LeavesANullFieldUnset) {
  Kinds kinds;
  ASSERT_TRUE(YamlToProto("timeout:\ns: ~\nchildren:\n", "test.yaml", &kinds).ok());
  EXPECT_FALSE(kinds.has_timeout());
  EXPECT_EQ(kinds.s(), "");
  EXPECT_EQ(kinds.children_size(), 0);
}

TEST(YamlToProtoTest, SetsAnEmptyMessageWrittenAsEmptyMap) {
  Kinds kinds;
  ASSERT_TRUE(YamlToProto("second: {}", "test.yaml", &kinds).ok());
  EXPECT_TRUE(kinds.has_second());
}

TEST(YamlToProtoTest, TakesScalarsOfAnyStyleAsStrings) {
  Kinds kinds;
  ASSERT_TRUE(YamlToProto("children:\n  - s: 1.2\n  - s: true\n  - s: 'quoted'\n  - s: |\n      "
                          "block\n",
                          "test.yaml", &kinds)
                  .ok());
  EXPECT_EQ(kinds.children(0).s(), "1.2");
  EXPECT_EQ(kinds.children(1).s(), "true");
  EXPECT_EQ(kinds.children(2).s(), "quoted");
  EXPECT_EQ(kinds.children(3).s(), "block\n");
}

TEST(YamlToProtoTest, FollowsAnchorsAndAliases) {
  Kinds kinds;
  ASSERT_TRUE(YamlToProto("children:\n  - &c {s: x, u32: 3}\n  - *c\n", "test.yaml", &kinds).ok());
  ASSERT_EQ(kinds.children_size(), 2);
  EXPECT_EQ(kinds.children(1).s(), "x");
  EXPECT_EQ(kinds.children(1).u32(), 3u);
}

TEST(YamlToProtoTest, StopsReadingADocumentThatExpandsBeyondItsBudget) {
  // Each level holds ten copies of the one before: 10^6 values from a few lines.
  std::string yaml = "children:\n  - &l0 {numbers: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}\n";
  for (int level = 1; level <= 6; ++level) {
    absl::StrAppend(&yaml, "  - &l", level, " {children: [");
    for (int i = 0; i < 10; ++i) absl::StrAppend(&yaml, i == 0 ? "" : ", ", "*l", level - 1);
    absl::StrAppend(&yaml, "]}\n");
  }
  Kinds kinds;
  const absl::Status status = YamlToProto(yaml, "test.yaml", &kinds);
  EXPECT_THAT(std::string(status.message()), HasSubstr("expands to more than 1000000 values"));
}

TEST(YamlToProtoTest, ReportsAYamlSyntaxErrorWithItsPosition) {
  ProxyConfig config;
  const absl::Status status = YamlToProto("admin:\n  address: [1\n", "bad.yaml", &config);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("bad.yaml: (line 3, column 1): YAML syntax error"));
}

TEST(YamlToProtoTest, RefusesAnEmptyDocument) {
  for (const char* yaml : {"", "# only a comment\n", "~", "---\n"}) {
    ProxyConfig config;
    const absl::Status status = YamlToProto(yaml, "empty.yaml", &config);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << yaml;
    EXPECT_THAT(std::string(status.message()), HasSubstr("the document is empty")) << yaml;
  }
}

TEST(YamlToProtoTest, RefusesSeveralDocuments) {
  ProxyConfig config;
  const absl::Status status = YamlToProto("admin: {}\n---\nadmin: {}\n", "two.yaml", &config);
  EXPECT_THAT(std::string(status.message()), HasSubstr("found 2 YAML documents"));
}

TEST(YamlToProtoTest, RefusesATopLevelThatIsNotAMap) {
  EXPECT_EQ(OnlyProblem("- a\n- b\n"), "(line 1, column 1): expected a map of fields, got a list");
  EXPECT_EQ(OnlyProblem("hello"), "(line 1, column 1): expected a map of fields, got \"hello\"");
}

TEST(YamlToProtoTest, RefusesAKeyThatIsNotAName) {
  EXPECT_THAT(OnlyProblem("? [a, b]\n: 1\n"), HasSubstr("expected a field name, got a list"));
}

TEST(YamlToProtoTest, ReportsEveryProblemNotJustTheFirst) {
  ProxyConfig config;
  const absl::Status status = YamlToProto(R"(admin:
  adress: x
runtime:
  workers: -1
  drain_timeout: soon
tls:
  session_resumption: yes
logging: text
)",
                                          "many.yaml", &config);
  const std::string message(status.message());
  EXPECT_THAT(message, HasSubstr("many.yaml: 5 problems:"));
  EXPECT_THAT(message, HasSubstr("admin.adress (line 2, column 3): unknown field"));
  EXPECT_THAT(message, HasSubstr("runtime.workers (line 4, column 12): -1 is negative"));
  EXPECT_THAT(message, HasSubstr("runtime.drain_timeout (line 5, column 18): \"soon\" is not a"));
  EXPECT_THAT(message, HasSubstr("tls.session_resumption (line 7, column 23): expected true or"));
  EXPECT_THAT(message, HasSubstr("logging (line 8, column 10): expected a map of fields"));
}

TEST(YamlToProtoTest, ListsAtMostTwentyProblemsButCountsAll) {
  std::string yaml = "numbers: [";
  for (int i = 0; i < 25; ++i) absl::StrAppend(&yaml, i == 0 ? "" : ", ", "x", i);
  yaml += "]";
  Kinds kinds;
  const std::string message(YamlToProto(yaml, "t.yaml", &kinds).message());
  EXPECT_THAT(message, HasSubstr("t.yaml: 25 problems:"));
  EXPECT_THAT(message, HasSubstr("numbers[19]"));
  EXPECT_THAT(message, ::testing::Not(HasSubstr("numbers[20]")));
  EXPECT_THAT(message, HasSubstr("... and 5 more (only the first 20 are listed)"));
}

TEST(YamlToProtoTest, RecordsWhereEachFieldWasWritten) {
  ProxyConfig config;
  ConfigErrors errors;
  FieldPositions positions;
  YamlToProto("inbound:\n  - name: a\n    address: 1.2.3.4:5\n", &config, &errors, &positions);
  ASSERT_TRUE(errors.empty());
  EXPECT_EQ(positions["inbound"].line, 1);
  EXPECT_EQ(positions["inbound[0]"].line, 2);
  EXPECT_EQ(positions["inbound[0]"].column, 5);
  EXPECT_EQ(positions["inbound[0].address"].line, 3);
  EXPECT_EQ(positions["inbound[0].address"].column, 14);
}

TEST(YamlToProtoTest, ClearsTheMessageBeforeFillingIt) {
  Kinds kinds;
  kinds.set_s("old");
  ASSERT_TRUE(YamlToProto("u32: 1", "test.yaml", &kinds).ok());
  EXPECT_EQ(kinds.s(), "");
}

}  // namespace
}  // namespace palisade::config
