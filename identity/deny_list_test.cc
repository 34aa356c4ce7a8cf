#include "identity/deny_list.h"

#include <gtest/gtest.h>

namespace palisade::identity {
namespace {

TEST(DenyListTest, ListsExactlyTheRevokedIdentities) {
  const DenyList list(3, {{"spiffe://example.org/ns/a/sa/revoked", absl::UnixEpoch()}});
  EXPECT_TRUE(list.Contains(*SpiffeId::Parse("spiffe://example.org/ns/a/sa/revoked")));
  EXPECT_FALSE(list.Contains(*SpiffeId::Parse("spiffe://example.org/ns/a/sa/other")));
  // Same path, another trust domain: another identity.
  EXPECT_FALSE(list.Contains(*SpiffeId::Parse("spiffe://other.org/ns/a/sa/revoked")));
  EXPECT_EQ(list.version(), 3u);
  EXPECT_EQ(list.size(), 1u);
}

TEST(DenyListTest, AnEmptyListRefusesNobody) {
  const DenyList list;
  EXPECT_TRUE(list.empty());
  EXPECT_FALSE(list.Contains(*SpiffeId::Parse("spiffe://example.org/x")));
}

}  // namespace
}  // namespace palisade::identity
