#include "proxy/net/resolver.h"

#include <event2/dns.h>
#include <event2/util.h>
#include <netdb.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace palisade::net {

struct Resolver::Request {
  Callback callback;
  Resolver* resolver = nullptr;
  uint16_t port = 0;
  std::string host;
  evdns_getaddrinfo_request* pending = nullptr;
  bool cancelled = false;
  // Keeps the request alive until evdns has called back, even if cancelled.
  std::shared_ptr<Request> self;

  static void OnResult(int result, evutil_addrinfo* info, void* arg) {
    auto* request = static_cast<Request*>(arg);
    std::shared_ptr<Request> keep = std::move(request->self);
    request->pending = nullptr;
    absl::StatusOr<SocketAddress> address = absl::UnavailableError(
        absl::StrCat("cannot resolve ", request->host, ": ", evutil_gai_strerror(result)));
    if (result == 0 && info != nullptr) {
      const SocketAddress found = SocketAddress::FromSockaddr(info->ai_addr, info->ai_addrlen);
      request->resolver->Remember(request->host, found);
      address = found.WithPort(request->port);
    }
    if (info != nullptr) evutil_freeaddrinfo(info);
    // evdns may answer from inside evdns_getaddrinfo (e.g. from /etc/hosts);
    // Deliver keeps callers from ever seeing a re-entrant callback.
    request->resolver->Deliver(std::move(keep), std::move(address));
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
    if (auto r = weak.lock()) {
      r->cancelled = true;
      if (r->pending != nullptr) evdns_getaddrinfo_cancel(r->pending);
    }
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

void Resolver::Remember(const std::string& host, const SocketAddress& address) {
  if (options_.cache_ttl <= absl::ZeroDuration()) return;
  cache_.insert_or_assign(host, Answer{address.WithPort(0), absl::Now() + options_.cache_ttl});
}

std::shared_ptr<void> Resolver::Resolve(const HostPort& target, Callback callback) {
  auto request = std::make_shared<Request>();
  request->callback = std::move(callback);
  request->resolver = this;
  request->port = target.port;
  request->host = target.host;
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
  evdns_base* dns = Dns();
  if (dns == nullptr) {
    return AnswerLater(std::move(request),
                       absl::UnavailableError("DNS resolver could not be set up"));
  }
  evutil_addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
  request->self = request;
  std::shared_ptr<void> handle = CancelOnDrop(request);
  request->pending = evdns_getaddrinfo(dns, target.host.c_str(), nullptr, &hints,
                                       &Request::OnResult, request.get());
  return handle;
}

}  // namespace palisade::net
