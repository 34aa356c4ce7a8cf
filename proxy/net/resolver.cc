#include "proxy/net/resolver.h"

#include <event2/dns.h>
#include <event2/util.h>
#include <netdb.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace palisade::net {

struct Resolver::Request {
  Callback callback;
  event::EventLoop* loop = nullptr;
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
      address =
          SocketAddress::FromSockaddr(info->ai_addr, info->ai_addrlen).WithPort(request->port);
    }
    if (info != nullptr) evutil_freeaddrinfo(info);
    // evdns may answer from inside evdns_getaddrinfo (e.g. from /etc/hosts);
    // deliver on a later turn so callers never see a re-entrant callback.
    request->loop->Post([keep, address = std::move(address)]() mutable {
      if (!keep->cancelled) keep->callback(std::move(address));
    });
  }
};

Resolver::Resolver(event::EventLoop* loop) : loop_(loop) {}

Resolver::~Resolver() {
  if (dns_ != nullptr) evdns_base_free(dns_, /*fail_requests=*/1);
}

std::shared_ptr<void> Resolver::Resolve(const HostPort& target, Callback callback) {
  auto request = std::make_shared<Request>();
  request->callback = std::move(callback);
  request->loop = loop_;
  request->port = target.port;
  request->host = target.host;
  if (absl::StatusOr<SocketAddress> literal = SocketAddress::Parse(target.ToString());
      literal.ok()) {
    // An IP literal needs no lookup; still answer asynchronously.
    std::weak_ptr<Request> weak = request;
    loop_->Post([weak, address = *literal] {
      if (auto r = weak.lock(); r && !r->cancelled) r->callback(address);
    });
    return std::shared_ptr<void>(request, request.get());
  }
  if (dns_ == nullptr) {
    dns_ = evdns_base_new(loop_->base(),
                          EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (dns_ != nullptr) evdns_base_load_hosts(dns_, nullptr);
  }
  if (dns_ == nullptr) {
    std::weak_ptr<Request> weak = request;
    loop_->Post([weak] {
      if (auto r = weak.lock(); r && !r->cancelled) {
        r->callback(absl::UnavailableError("DNS resolver could not be set up"));
      }
    });
    return std::shared_ptr<void>(request, request.get());
  }
  evutil_addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
  request->self = request;
  request->pending = evdns_getaddrinfo(dns_, target.host.c_str(), nullptr, &hints,
                                       &Request::OnResult, request.get());
  // The handle's deleter cancels: the callback will not reach the caller.
  Request* raw = request.get();
  return std::shared_ptr<void>(raw, [keep = std::weak_ptr<Request>(request)](void*) {
    if (auto r = keep.lock()) {
      r->cancelled = true;
      if (r->pending != nullptr) evdns_getaddrinfo_cancel(r->pending);
    }
  });
}

}  // namespace palisade::net
