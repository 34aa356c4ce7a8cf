#include "runtime/net/resolver.h"

#include <event2/dns.h>
#include <event2/util.h>
#include <netdb.h>

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace palisade::net {

struct Resolver::Request {
  Callback callback;
  uint16_t port = 0;
  bool cancelled = false;
};

// One evdns query, shared by every request for its host while it runs.
struct Resolver::Lookup {
  Resolver* resolver = nullptr;
  std::string host;
  std::vector<std::shared_ptr<Request>> waiters;
  // Keeps the lookup alive until evdns has called back.
  std::shared_ptr<Lookup> self;

  static void OnResult(int result, evutil_addrinfo* info, void* arg) {
    auto* lookup = static_cast<Lookup*>(arg);
    std::shared_ptr<Lookup> keep = std::move(lookup->self);
    absl::StatusOr<SocketAddress> found = absl::UnavailableError(
        absl::StrCat("cannot resolve ", lookup->host, ": ", evutil_gai_strerror(result)));
    if (result == 0 && info != nullptr) {
      found = SocketAddress::FromSockaddr(info->ai_addr, info->ai_addrlen).WithPort(0);
    }
    if (info != nullptr) evutil_freeaddrinfo(info);
    lookup->resolver->Finish(*lookup, std::move(found));
  }
};

Resolver::Resolver(event::EventLoop* loop, Options options)
    : loop_(loop), options_(std::move(options)) {}

Resolver::~Resolver() {
  if (dns_ != nullptr) evdns_base_free(dns_, /*fail_requests=*/1);
}

namespace {

// The caller's handle: dropping it cancels the request.
template <typename Request>
std::shared_ptr<void> CancelOnDrop(const std::shared_ptr<Request>& request) {
  return std::shared_ptr<void>(request.get(), [weak = std::weak_ptr<Request>(request)](void*) {
    if (auto r = weak.lock()) r->cancelled = true;
  });
}

}  // namespace

void Resolver::Deliver(std::shared_ptr<Request> request, absl::StatusOr<SocketAddress> answer) {
  loop_->Post([request = std::move(request), answer = std::move(answer)]() mutable {
    if (!request->cancelled) request->callback(std::move(answer));
  });
}

std::shared_ptr<void> Resolver::AnswerLater(std::shared_ptr<Request> request,
                                            absl::StatusOr<SocketAddress> answer) {
  std::shared_ptr<void> handle = CancelOnDrop(request);
  Deliver(std::move(request), std::move(answer));
  return handle;
}

evdns_base* Resolver::Dns() {
  if (dns_ != nullptr) return dns_;
  if (options_.nameservers.empty()) {
    dns_ = evdns_base_new(loop_->base(),
                          EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (dns_ != nullptr) evdns_base_load_hosts(dns_, nullptr);
    return dns_;
  }
  dns_ = evdns_base_new(loop_->base(), EVDNS_BASE_DISABLE_WHEN_INACTIVE);
  for (const std::string& server : options_.nameservers) {
    if (dns_ != nullptr && evdns_base_nameserver_ip_add(dns_, server.c_str()) != 0) {
      evdns_base_free(dns_, /*fail_requests=*/0);
      dns_ = nullptr;
    }
  }
  return dns_;
}

void Resolver::Finish(Lookup& lookup, absl::StatusOr<SocketAddress> found) {
  if (auto it = lookups_.find(lookup.host); it != lookups_.end() && it->second.get() == &lookup) {
    lookups_.erase(it);
  }
  if (found.ok() && options_.cache_ttl > absl::ZeroDuration()) {
    cache_.insert_or_assign(lookup.host, Answer{*found, absl::Now() + options_.cache_ttl});
  }
  // evdns may answer from inside evdns_getaddrinfo (e.g. from /etc/hosts);
  // Deliver keeps callers from ever seeing a re-entrant callback.
  for (std::shared_ptr<Request>& waiter : lookup.waiters) {
    const uint16_t port = waiter->port;
    Deliver(std::move(waiter),
            found.ok() ? absl::StatusOr<SocketAddress>(found->WithPort(port)) : found.status());
  }
  lookup.waiters.clear();
}

std::shared_ptr<void> Resolver::Resolve(const HostPort& target, Callback callback) {
  auto request = std::make_shared<Request>();
  request->callback = std::move(callback);
  request->port = target.port;
  if (absl::StatusOr<SocketAddress> literal = SocketAddress::Parse(target.ToString());
      literal.ok()) {
    return AnswerLater(std::move(request), *literal);  // an IP literal needs no lookup
  }
  if (auto cached = cache_.find(target.host); cached != cache_.end()) {
    if (absl::Now() < cached->second.expires) {
      return AnswerLater(std::move(request), cached->second.address.WithPort(target.port));
    }
    cache_.erase(cached);
  }
  std::shared_ptr<void> handle = CancelOnDrop(request);
  if (auto running = lookups_.find(target.host); running != lookups_.end()) {
    running->second->waiters.push_back(std::move(request));  // answered with that lookup
    return handle;
  }
  evdns_base* dns = Dns();
  if (dns == nullptr) {
    Deliver(std::move(request), absl::UnavailableError("DNS resolver could not be set up"));
    return handle;
  }
  auto lookup = std::make_shared<Lookup>();
  lookup->resolver = this;
  lookup->host = target.host;
  lookup->waiters.push_back(std::move(request));
  lookup->self = lookup;
  lookups_[target.host] = lookup;
  evutil_addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
  evdns_getaddrinfo(dns, target.host.c_str(), nullptr, &hints, &Lookup::OnResult, lookup.get());
  return handle;
}

}  // namespace palisade::net
