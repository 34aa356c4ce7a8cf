#include "runtime/verify/verified_chain_cache.h"

#include <gtest/gtest.h>

#include "identity/spiffe_id.h"

namespace palisade::verify {
namespace {

VerifiedChainCache::Key KeyOf(uint8_t b) {
  VerifiedChainCache::Key k{};
  k.fill(b);
  return k;
}

VerifiedChainCache::Entry EntryFor(const std::string& id, uint64_t generation) {
  identity::VerifiedSvid svid{*identity::SpiffeId::Parse(id)};
  return VerifiedChainCache::Entry{svid, absl::UnixEpoch(), generation};
}

TEST(VerifiedChainCacheTest, FindsAnEntryOnlyUnderTheBundleItWasVerifiedWith) {
  VerifiedChainCache cache;
  cache.Insert(KeyOf(1), EntryFor("spiffe://td/a", 7));
  ASSERT_NE(cache.Find(KeyOf(1), 7), nullptr);
  EXPECT_EQ(cache.Find(KeyOf(1), 7)->svid.spiffe_id.ToString(), "spiffe://td/a");
  EXPECT_EQ(cache.Find(KeyOf(1), 8), nullptr);
  EXPECT_EQ(cache.Find(KeyOf(2), 7), nullptr);
}

TEST(VerifiedChainCacheTest, StaysWithinItsCapacity) {
  VerifiedChainCache cache(/*capacity=*/4);
  for (uint8_t i = 0; i < 20; ++i) cache.Insert(KeyOf(i), EntryFor("spiffe://td/x", 1));
  EXPECT_LE(cache.size(), 4u);
  EXPECT_NE(cache.Find(KeyOf(19), 1), nullptr);  // the newest is always kept
}

}  // namespace
}  // namespace palisade::verify
