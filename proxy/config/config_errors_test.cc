#include "proxy/config/config_errors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace palisade::config {
namespace {

using ::testing::HasSubstr;

TEST(ConfigErrorsTest, IsOkWhenNothingWasAdded) {
  ConfigErrors errors;
  EXPECT_TRUE(errors.empty());
  EXPECT_TRUE(errors.ToStatus("a.yaml").ok());
}

TEST(ConfigErrorsTest, RendersOneProblemOnOneLine) {
  ConfigErrors errors;
  errors.Add("admin.address", SourcePosition{3, 12}, "bad");
  const absl::Status status = errors.ToStatus("a.yaml");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "a.yaml: admin.address (line 3, column 12): bad");
}

TEST(ConfigErrorsTest, OmitsAnUnknownPositionOrAnEmptyPath) {
  EXPECT_EQ(ConfigErrors::Render({"a.b", {}, "m"}), "a.b: m");
  EXPECT_EQ(ConfigErrors::Render({"", {1, 2}, "m"}), "(line 1, column 2): m");
  EXPECT_EQ(ConfigErrors::Render({"", {}, "m"}), "m");
}

TEST(ConfigErrorsTest, PlacesAPathOnlyErrorAtItsNearestWrittenAncestor) {
  FieldPositions positions;
  positions["inbound[1]"] = {7, 5};
  ConfigErrors errors;
  errors.set_positions(&positions);
  errors.Add("inbound[1].timeouts.handshake", "must be more than zero");
  errors.Add("outbound[0].name", "is required");
  ASSERT_EQ(errors.errors().size(), 2u);
  EXPECT_EQ(errors.errors()[0].position.line, 7);
  EXPECT_EQ(errors.errors()[1].position.line, 0);
}

TEST(ConfigErrorsTest, ListsAllProblemsUpToTheCapAndCountsTheRest) {
  ConfigErrors errors(3);
  for (int i = 0; i < 5; ++i) errors.Add("f", SourcePosition{i + 1, 1}, "bad");
  const std::string message(errors.ToStatus("x.yaml").message());
  EXPECT_THAT(message, HasSubstr("x.yaml: 5 problems:\n  f (line 1, column 1): bad\n"));
  EXPECT_THAT(message, HasSubstr("(line 3, column 1)"));
  EXPECT_THAT(message, ::testing::Not(HasSubstr("(line 4, column 1)")));
  EXPECT_THAT(message, HasSubstr("... and 2 more (only the first 3 are listed)"));
  EXPECT_EQ(errors.count(), 5);
}

TEST(ConfigErrorsTest, ListsProblemsInFileOrderWithUnplacedOnesLast) {
  ConfigErrors errors;
  errors.Add("c", SourcePosition{}, "third");
  errors.Add("b", SourcePosition{9, 1}, "second");
  errors.Add("a", SourcePosition{2, 7}, "first");
  EXPECT_EQ(errors.ToStatus("s.yaml").message(),
            "s.yaml: 3 problems:\n  a (line 2, column 7): first\n  b (line 9, column 1): second\n"
            "  c: third");
}

TEST(ConfigErrorsTest, TouchesPathsInsideAndAroundAnError) {
  ConfigErrors errors;
  errors.Add("inbound[1].timeouts", SourcePosition{}, "bad");
  EXPECT_TRUE(errors.TouchesPath("inbound[1].timeouts"));
  EXPECT_TRUE(errors.TouchesPath("inbound[1].timeouts.idle"));
  EXPECT_TRUE(errors.TouchesPath("inbound[1]"));
  EXPECT_FALSE(errors.TouchesPath("inbound[10].timeouts"));
  EXPECT_FALSE(errors.TouchesPath("inbound[0]"));
  EXPECT_FALSE(errors.TouchesPath(""));
}

TEST(ConfigErrorsTest, FindsTheParentOfAPath) {
  EXPECT_EQ(ParentPath("a.b[2].c"), "a.b[2]");
  EXPECT_EQ(ParentPath("a.b[2]"), "a.b");
  EXPECT_EQ(ParentPath("a"), "");
  EXPECT_EQ(ParentPath("m[\"x.y]\"].v"), "m[\"x.y]\"]");
  EXPECT_EQ(ParentPath("m[\"x.y]\"]"), "m");
  EXPECT_EQ(ParentPath(""), "");
}

}  // namespace
}  // namespace palisade::config
