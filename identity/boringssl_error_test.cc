#include "identity/boringssl_error.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "tests/util/status_matchers.h"

namespace palisade {
namespace identity {
namespace {

using ::palisade::testing::StatusIs;
using ::testing::HasSubstr;

void QueueAParseError() {
  const uint8_t garbage[] = {0x30, 0x03, 0x02, 0x01};
  const uint8_t* p = garbage;
  ASSERT_EQ(d2i_X509(nullptr, &p, sizeof(garbage)), nullptr);
  ASSERT_NE(ERR_peek_error(), 0u);
}

TEST(BoringSslErrorTest, NamesTheOperationAndTheLibraryReasonThenClearsTheQueue) {
  QueueAParseError();
  absl::Status status = BoringSslError(absl::StatusCode::kInvalidArgument, "parsing cert");
  EXPECT_THAT(status,
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("parsing cert: error:")));
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(BoringSslErrorTest, UsesTheBareMessageWhenTheQueueIsEmpty) {
  ERR_clear_error();
  EXPECT_THAT(InternalBoringSslError("X509_new"),
              StatusIs(absl::StatusCode::kInternal, "X509_new"));
  EXPECT_EQ(DrainBoringSslErrors(), "");
}

}  // namespace
}  // namespace identity
}  // namespace palisade
