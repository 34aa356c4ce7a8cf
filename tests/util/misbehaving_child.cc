// A process that misbehaves on request, so tests can prove that Process and
// RunCommand notice: bad exit codes, leaks and memory errors (reported under
// --config=asan), sanitizer reports after which the process still exits 0,
// and SIGTERM handled badly.
//
//   misbehaving_child exit N          exits with N
//   misbehaving_child leak            leaks a block and exits 0
//   misbehaving_child use-after-free  reads freed memory and exits 0
//   misbehaving_child fake-report     prints what UBSan prints when it recovers,
//                                     then exits 0
//   misbehaving_child serve ON_TERM   prints "ready", waits (at most 60 s) for
//                                     SIGTERM, then: clean (exit 0), exit3,
//                                     leak (exit 0 with a leak), abort, or
//                                     ignore (keeps waiting)
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace {

// Kept in a volatile global so the optimizer cannot drop the allocation; then
// dropped so that LeakSanitizer sees it unreachable.
void* volatile leaked;

int Leak() {
  leaked = std::malloc(4096);
  std::memset(leaked, 1, 4096);
  leaked = nullptr;
  return 0;
}

int UseAfterFree() {
  char* volatile block = static_cast<char*>(std::malloc(64));
  block[0] = 'x';
  std::free(block);
  return block[0] == 'x' ? 0 : 1;  // used, so the read stays
}

int FakeReport() {
  std::fprintf(stderr,
               "proxy/example.cc:12:5: runtime error: signed integer overflow: 2147483647 + 1 "
               "cannot be represented in type 'int'\n"
               "SUMMARY: UndefinedBehaviorSanitizer: undefined-behavior proxy/example.cc:12:5\n");
  return 0;
}

int Serve(const char* on_term) {
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigprocmask(SIG_BLOCK, &term, nullptr);
  std::printf("ready\n");
  std::fflush(stdout);
  const timespec limit = {60, 0};
  for (int i = 0; i < 2; ++i) {  // "ignore" waits once more, then gives up
    if (sigtimedwait(&term, nullptr, &limit) != SIGTERM) return 4;  // nobody stopped us
    if (std::strcmp(on_term, "clean") == 0) return 0;
    if (std::strcmp(on_term, "exit3") == 0) return 3;
    if (std::strcmp(on_term, "leak") == 0) return Leak();
    if (std::strcmp(on_term, "abort") == 0) std::abort();
    if (std::strcmp(on_term, "ignore") != 0) return 2;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::strcmp(argv[1], "exit") == 0) return std::atoi(argv[2]);
  if (argc >= 2 && std::strcmp(argv[1], "leak") == 0) return Leak();
  if (argc >= 2 && std::strcmp(argv[1], "use-after-free") == 0) return UseAfterFree();
  if (argc >= 2 && std::strcmp(argv[1], "fake-report") == 0) return FakeReport();
  if (argc >= 3 && std::strcmp(argv[1], "serve") == 0) return Serve(argv[2]);
  std::fprintf(stderr, "usage: %s exit N | leak | use-after-free | fake-report | serve ON_TERM\n",
               argv[0]);
  return 2;
}
