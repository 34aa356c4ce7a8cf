// Asynchronous host-name resolution on an event loop (libevent's evdns, which
// reads /etc/resolv.conf and /etc/hosts), so a worker never blocks on DNS.
// Answers are kept for a short while, and requests for a name already being
// looked up wait for that lookup, so a busy upstream does not put a DNS round
// trip (or a burst of queries) in front of every connection; evdns itself
// caches nothing.
#ifndef PALISADE_RUNTIME_NET_RESOLVER_H_
#define PALISADE_RUNTIME_NET_RESOLVER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/event/event_loop.h"
#include "runtime/net/socket_address.h"

struct evdns_base;

namespace palisade::net {

// Loop thread only.
class Resolver {
 public:
  struct Options {
    // How long a successful answer serves later lookups of the same name,
    // like Envoy's DNS refresh rate. Zero: nothing is kept (requests made
    // while a lookup runs still share it). Failures are never kept, so a
    // name that starts resolving is used at once.
    absl::Duration cache_ttl = absl::Seconds(5);
    // Name servers ("ip:port") to ask instead of /etc/resolv.conf's; the
    // hosts file is then not read either. For tests with their own server.
    std::vector<std::string> nameservers;
  };
  using Callback = std::function<void(absl::StatusOr<SocketAddress>)>;

  explicit Resolver(event::EventLoop* loop) : Resolver(loop, Options()) {}
  Resolver(event::EventLoop* loop, Options options);
  ~Resolver();

  // Calls back on the loop thread, never from inside Resolve(). Destroying
  // the returned handle cancels the request: its callback then never runs
  // (the lookup itself finishes, and its answer is kept for others).
  std::shared_ptr<void> Resolve(const HostPort& target, Callback callback);

 private:
  struct Request;
  struct Lookup;
  struct Answer {
    SocketAddress address;  // port 0; the caller's port is applied on use
    absl::Time expires;
  };

  // Calls the request's callback on a later loop turn unless its handle was
  // dropped by then.
  void Deliver(std::shared_ptr<Request> request, absl::StatusOr<SocketAddress> answer);
  // Deliver, for a request answered without a lookup; returns its handle.
  std::shared_ptr<void> AnswerLater(std::shared_ptr<Request> request,
                                    absl::StatusOr<SocketAddress> answer);
  evdns_base* Dns();
  // The end of `lookup`: remembers a success, answers every waiter.
  void Finish(Lookup& lookup, absl::StatusOr<SocketAddress> found);

  event::EventLoop* loop_;
  const Options options_;
  evdns_base* dns_ = nullptr;  // created on first use
  absl::flat_hash_map<std::string, Answer> cache_;
  // Lookups in flight, by host; each owns the requests waiting for it.
  absl::flat_hash_map<std::string, std::shared_ptr<Lookup>> lookups_;
};

}  // namespace palisade::net

#endif  // PALISADE_RUNTIME_NET_RESOLVER_H_
