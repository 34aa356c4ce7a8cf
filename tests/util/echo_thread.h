// An echo server inside the test process, for unit tests that need a real
// TCP peer on loopback without launching a binary: a thread per connection,
// every byte sent back, each connection's peer address recorded.
#ifndef PALISADE_TESTS_UTIL_ECHO_THREAD_H_
#define PALISADE_TESTS_UTIL_ECHO_THREAD_H_

#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "runtime/net/socket_address.h"
#include "runtime/net/unique_fd.h"
#include "runtime/sync/mutex.h"

namespace palisade::testing {

class EchoThread {
 public:
  EchoThread();   // listens on 127.0.0.1, port 0
  ~EchoThread();  // stops accepting, waits for open connections to end

  net::SocketAddress address() const { return address_; }
  // The peer address of every connection accepted so far, in order.
  std::vector<std::string> peers() const;

 private:
  void Serve();

  net::UniqueFd listener_;
  net::SocketAddress address_;
  std::thread thread_;
  std::vector<std::thread> echoes_;  // the accept thread's, joined after it
  mutable sync::Mutex mu_;
  std::vector<std::string> peers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_UTIL_ECHO_THREAD_H_
