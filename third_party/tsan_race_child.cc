// Two threads that race on purpose, linked like our binaries (with :grpcpp,
// so with grpc_tsan_suppressions.cc under --config=tsan), so that
// grpc_tsan_suppressions_test can prove a race in our own code is still
// reported: the suppressions are for Debian's uninstrumented libraries only.
//
//   tsan_race_child int        two threads write one int
//   tsan_race_child absl_map   one thread inserts into an absl::flat_hash_map
//                              while another looks keys up in it
//
// Exits 0; under TSan with halt_on_error=1 a report makes it exit 66.
#include <cstdio>
#include <cstring>
#include <thread>

#include "absl/container/flat_hash_map.h"

namespace {

constexpr int kRounds = 2000;

int RaceOnInt() {
  static volatile int shared = 0;  // volatile: every access stays
  std::thread a([] {
    for (int i = 0; i < kRounds; ++i) shared = shared + 1;
  });
  std::thread b([] {
    for (int i = 0; i < kRounds; ++i) shared = shared + 1;
  });
  a.join();
  b.join();
  return 0;
}

int RaceOnAbslMap() {
  absl::flat_hash_map<int, int> map;
  std::thread writer([&map] {
    for (int i = 0; i < kRounds; ++i) map[i] = i;  // grows: rehashes under the reader
  });
  std::thread reader([&map] {
    long found = 0;
    for (int i = 0; i < kRounds; ++i) found += map.contains(i) ? 1 : 0;
    std::printf("found %ld\n", found);
  });
  writer.join();
  reader.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "int") == 0) return RaceOnInt();
  if (argc == 2 && std::strcmp(argv[1], "absl_map") == 0) return RaceOnAbslMap();
  std::fprintf(stderr, "usage: %s int | absl_map\n", argv[0]);
  return 2;
}
