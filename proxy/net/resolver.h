// Asynchronous host-name resolution on an event loop (libevent's evdns, which
// reads /etc/resolv.conf and /etc/hosts), so a worker never blocks on DNS.
#ifndef PALISADE_PROXY_NET_RESOLVER_H_
#define PALISADE_PROXY_NET_RESOLVER_H_

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "proxy/event/event_loop.h"
#include "proxy/net/socket_address.h"

struct evdns_base;

namespace palisade::net {

// Loop thread only.
class Resolver {
 public:
  using Callback = std::function<void(absl::StatusOr<SocketAddress>)>;
  explicit Resolver(event::EventLoop* loop);
  ~Resolver();

  // Calls back on the loop thread, never from inside Resolve(). Destroying
  // the returned handle cancels the lookup; the callback then never runs.
  std::shared_ptr<void> Resolve(const HostPort& target, Callback callback);

 private:
  struct Request;
  event::EventLoop* loop_;
  evdns_base* dns_ = nullptr;  // created on first use
};

}  // namespace palisade::net

#endif  // PALISADE_PROXY_NET_RESOLVER_H_
