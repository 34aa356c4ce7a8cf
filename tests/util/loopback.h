// Plain TCP on 127.0.0.1 for tests: connect to a port, pick a free one, and
// exchange bytes with an echo path. Every call is bounded in time, so a stuck
// test fails instead of hanging.
#ifndef PALISADE_TESTS_UTIL_LOOPBACK_H_
#define PALISADE_TESTS_UTIL_LOOPBACK_H_

#include <netinet/in.h>

#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace palisade::testing {

// 127.0.0.1:`port` as a socket address.
sockaddr_in LoopbackAddress(uint16_t port);

// A connected socket to 127.0.0.1:`port` whose reads and writes give up
// after `io_timeout`; -1 when the connection is refused.
int ConnectLoopback(uint16_t port, absl::Duration io_timeout = absl::Seconds(30));

// A port that was free on 127.0.0.1 a moment ago (another process may still
// take it: callers that bind it must retry); 0 on failure.
uint16_t PickFreeLoopbackPort();

// Sends `message` on `fd` and reads until as many bytes came back (an echo
// path), the peer closes, or the timeout passes. Returns what came back.
std::string EchoExchange(int fd, const std::string& message);

// Connects to `port`, sends `message`, shuts the write side, and returns all
// that comes back until the peer closes; "" when the connection is refused.
std::string SendAndReadToEnd(uint16_t port, const std::string& message);

// A loopback port held in LISTEN until this object is destroyed: for tests
// of what a program does when the port it was told to bind is taken.
class HeldPort {
 public:
  HeldPort();
  ~HeldPort();
  HeldPort(const HeldPort&) = delete;
  HeldPort& operator=(const HeldPort&) = delete;

  // "127.0.0.1:PORT"; "" when the socket could not be bound.
  const std::string& address() const { return address_; }
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::string address_;
};

// True when 127.0.0.1:`port` can be bound right now (nobody holds it).
bool CanBindLoopback(uint16_t port);

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_UTIL_LOOPBACK_H_
