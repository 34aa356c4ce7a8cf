// Load for tests of the data path under change (rotation, outages): short
// connections and long-lived request/response streams through a listener
// that leads to an echo backend, every reply checked byte for byte.
#ifndef PALISADE_TESTS_UTIL_ECHO_LOAD_H_
#define PALISADE_TESTS_UTIL_ECHO_LOAD_H_

#include <atomic>
#include <cstdint>
#include <string>

namespace palisade::testing {

struct LoadResult {
  std::atomic<int64_t> new_ok{0}, new_failed{0};
  std::atomic<int64_t> stream_requests{0}, stream_reconnects{0}, stream_failures{0};
  std::atomic<int64_t> lost_requests{0}, corrupted{0};
};

// Traffic to 127.0.0.1:`port` until `stop`: two threads of short
// connections (one 64-byte request each, about 50 a second each) and four
// long-lived streams (a request every 50 ms). With `reconnect`, a stream
// whose connection ended reconnects and resends the request that had no
// answer, so a graceful close costs no request.
void RunLoad(uint16_t port, bool reconnect, std::atomic<bool>* stop, LoadResult* result);

// One line for the test log: every count, for the figures of a run.
std::string Describe(const LoadResult& result);

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_UTIL_ECHO_LOAD_H_
