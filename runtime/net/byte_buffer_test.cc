#include "runtime/net/byte_buffer.h"

#include <gtest/gtest.h>

#include <string>

namespace palisade::net {
namespace {

TEST(ByteBufferTest, KeepsBytesInOrderAcrossGrowthAndPartialConsumption) {
  ByteBuffer buffer;
  std::string expected;
  for (int i = 0; i < 5000; ++i) {
    const std::string chunk = std::to_string(i) + ",";
    buffer.Append(chunk.data(), chunk.size());
    expected += chunk;
    if (i % 7 == 0) {
      const size_t n = std::min<size_t>(buffer.size(), 5);
      EXPECT_EQ(std::string(buffer.data(), n), expected.substr(0, n));
      buffer.Consume(n);
      expected.erase(0, n);
    }
  }
  EXPECT_EQ(std::string(buffer.data(), buffer.size()), expected);
}

TEST(ByteBufferTest, IsEmptyAgainOnceEverythingIsConsumed) {
  ByteBuffer buffer;
  buffer.Append("hello", 5);
  buffer.Consume(5);
  EXPECT_TRUE(buffer.empty());
  buffer.Append("again", 5);
  EXPECT_EQ(std::string(buffer.data(), buffer.size()), "again");
}

}  // namespace
}  // namespace palisade::net
