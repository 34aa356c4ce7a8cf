// The one accept loop, for every listening socket: the proxy's workers and
// the TLS terminator. It takes queued connections off in bounded batches
// (edge-triggered readiness says so only once, so it drains the queue over
// several turns, letting other work run between them), and when the process
// runs out of descriptors it leaves the rest queued and tries again shortly.
#ifndef PALISADE_RUNTIME_NET_ACCEPTOR_H_
#define PALISADE_RUNTIME_NET_ACCEPTOR_H_

#include <cstddef>
#include <functional>

#include "absl/time/time.h"
#include "runtime/event/event_loop.h"
#include "runtime/net/socket_address.h"
#include "runtime/net/unique_fd.h"

namespace palisade::net {

// Loop thread only. Destroying it stops accepting; the listening socket
// stays with its owner.
class Acceptor {
 public:
  struct Options {
    size_t batch = 256;                              // connections per turn
    absl::Duration retry = absl::Milliseconds(100);  // after running out of descriptors
  };
  // A new connection (non-blocking, close-on-exec, TCP_NODELAY). The callee
  // owns it; closing it at once refuses it. It must not destroy the acceptor.
  using OnAccepted = std::function<void(UniqueFd connection, const SocketAddress& peer)>;
  // Called with "fd_limit" when accept fails for want of descriptors or memory.
  using OnRefused = std::function<void(const char* reason)>;

  Acceptor(event::EventLoop* loop, int listen_fd, OnAccepted on_accepted, OnRefused on_refused,
           Options options);
  Acceptor(event::EventLoop* loop, int listen_fd, OnAccepted on_accepted, OnRefused on_refused)
      : Acceptor(loop, listen_fd, std::move(on_accepted), std::move(on_refused), Options{}) {}
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  // Accepts what is already queued; later arrivals are taken as they come.
  void Start();

 private:
  void AcceptBatch();

  const int listen_fd_;
  const Options options_;
  const OnAccepted on_accepted_;
  const OnRefused on_refused_;
  event::Timer next_batch_;  // more may be queued: continue on the next turn
  event::Timer retry_;       // out of descriptors: try again later
  event::FdWatcher watcher_;
};

}  // namespace palisade::net

#endif  // PALISADE_RUNTIME_NET_ACCEPTOR_H_
