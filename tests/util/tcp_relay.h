// A TCP relay for tests: listens on 127.0.0.1 (a port of its own) and
// forwards each connection to 127.0.0.1:`target_port`, both ways, from one
// thread. A test decides per connection, by the client's source port,
// whether it may pass: refused connections are closed (new ones at once,
// established ones when the rule changes). For cutting a link between
// processes the test started (EtcdCluster's peer partitions). Bounded: every
// wait is a poll with a timeout; it owns only its own sockets.
#ifndef PALISADE_TESTS_UTIL_TCP_RELAY_H_
#define PALISADE_TESTS_UTIL_TCP_RELAY_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace palisade::testing {

class TcpRelay {
 public:
  // True when a connection from 127.0.0.1:`source_port` must not pass.
  // Called on the relay's thread.
  using RefuseFn = std::function<bool(uint16_t source_port)>;

  static absl::StatusOr<std::unique_ptr<TcpRelay>> Start(uint16_t target_port, RefuseFn refuse);
  ~TcpRelay();
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  uint16_t port() const { return port_; }
  // Asks the rule again for every established connection and closes those
  // it now refuses; returns once that is done (bounded by a few seconds).
  void Recheck();
  // Connections relayed right now.
  int connections() const { return connections_.load(); }

 private:
  struct Link;
  TcpRelay() = default;
  void Run();
  void Wake();

  uint16_t port_ = 0;
  uint16_t target_port_ = 0;
  RefuseFn refuse_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::atomic<uint64_t> recheck_asked_{0};
  std::atomic<uint64_t> recheck_done_{0};
  std::thread thread_;
};

// The process among `pids` that holds the client end of a loopback TCP
// connection from 127.0.0.1:`source_port` to 127.0.0.1:`dest_port` (read
// from /proc/net/tcp and /proc/PID/fd); -1 when none of them does.
pid_t LoopbackClientOwner(uint16_t source_port, uint16_t dest_port, const std::vector<pid_t>& pids);

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_UTIL_TCP_RELAY_H_
