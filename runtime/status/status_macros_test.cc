#include "runtime/status/status_macros.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace palisade {
namespace {

absl::Status Fails(bool fail) {
  return fail ? absl::NotFoundError("no such thing") : absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<std::string>> MakeText(bool fail) {
  if (fail) return absl::InvalidArgumentError("bad text");
  return std::make_unique<std::string>("text");
}

absl::Status Chain(bool first_fails, bool second_fails, std::string* out) {
  RETURN_IF_ERROR(Fails(first_fails));
  ASSIGN_OR_RETURN(std::unique_ptr<std::string> text, MakeText(second_fails));
  *out = *text;
  return absl::OkStatus();
}

absl::StatusOr<size_t> LengthOf(bool fail) {
  std::unique_ptr<std::string> text;
  ASSIGN_OR_RETURN(text, MakeText(fail));  // assigns an existing variable
  RETURN_IF_ERROR(MakeText(fail));         // a StatusOr works too
  return text->size();
}

TEST(StatusMacrosTest, PassesTheFirstErrorOnUnchanged) {
  std::string out;
  EXPECT_EQ(Chain(true, false, &out), absl::NotFoundError("no such thing"));
  EXPECT_EQ(Chain(false, true, &out), absl::InvalidArgumentError("bad text"));
  EXPECT_TRUE(out.empty());
}

TEST(StatusMacrosTest, GoesOnWithTheValueWhenThereIsNoError) {
  std::string out;
  EXPECT_TRUE(Chain(false, false, &out).ok());
  EXPECT_EQ(out, "text");
  ASSERT_TRUE(LengthOf(false).ok());
  EXPECT_EQ(*LengthOf(false), 4u);
  EXPECT_EQ(LengthOf(true).status(), absl::InvalidArgumentError("bad text"));
}

}  // namespace
}  // namespace palisade
