#include "proxy/server/proxy_server.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "proxy/config/config_defaults.h"
#include "proxy/config/reload_diff.h"
#include "proxy/gateway/gateway_trust_files.h"
#include "runtime/net/sockets.h"
#include "runtime/status/status_macros.h"
#include "runtime/sync/mutex.h"

namespace palisade::server {
namespace {

void ApplyCommon(const config::v1::ListenerLimits& limits, const config::v1::Timeouts& timeouts,
                 const config::v1::RuntimeConfig& runtime, forward::ListenerContext* c) {
  if (limits.max_connections() > 0) c->max_connections = limits.max_connections();
  c->max_pending_handshakes = limits.max_pending_handshakes() > 0
                                  ? limits.max_pending_handshakes()
                                  : config::kDefaultMaxPendingHandshakes;
  if (limits.max_pending_handshakes_per_source() > 0) {
    c->max_pending_handshakes_per_source = limits.max_pending_handshakes_per_source();
  } else if (c->direction == forward::Direction::kInbound) {
    c->max_pending_handshakes_per_source =
        std::min(config::kDefaultMaxPendingHandshakesPerSource, c->max_pending_handshakes);
  } else {
    c->max_pending_handshakes_per_source = c->max_pending_handshakes;  // the app alone
  }
  if (limits.buffer_high_water_bytes() > 0) c->high_water_bytes = limits.buffer_high_water_bytes();
  // A value that is present is used as is (0 included); absent ones (a
  // config that skipped ApplyDefaults) take the documented default.
  using config::DurationOr;
  c->handshake_timeout =
      DurationOr(timeouts.has_handshake(), timeouts.handshake(), config::kDefaultHandshakeTimeout);
  c->connect_timeout =
      DurationOr(timeouts.has_connect(), timeouts.connect(), config::kDefaultConnectTimeout);
  c->idle_timeout = DurationOr(timeouts.has_idle(), timeouts.idle(), config::kDefaultIdleTimeout);
  c->startup_hold =
      DurationOr(runtime.has_startup_hold(), runtime.startup_hold(), config::kDefaultStartupHold);
  c->socket_mark = runtime.socket_mark();
}

absl::Status Named(const std::string& kind, const std::string& name, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat(kind, " listener \"", name, "\": ", s.message()));
}

absl::StatusOr<forward::PeerExpectation> Expectation(const config::v1::PeerMatch& expected) {
  absl::StatusOr<identity::AuthorizationPolicy> policy;
  std::string description;
  switch (expected.match_case()) {
    case config::v1::PeerMatch::kSpiffeId:
      policy = identity::AuthorizationPolicy::Create({expected.spiffe_id()}, {}, {});
      description = expected.spiffe_id();
      break;
    case config::v1::PeerMatch::kTrustDomain:
      policy = identity::AuthorizationPolicy::Create({}, {expected.trust_domain()}, {});
      description = "any workload of trust domain " + expected.trust_domain();
      break;
    case config::v1::PeerMatch::kPathPrefix:
      policy = identity::AuthorizationPolicy::Create({}, {}, {expected.path_prefix()});
      description = expected.path_prefix() + "*";
      break;
    default:
      return absl::InvalidArgumentError("expected_peer is required");
  }
  if (!policy.ok()) return policy.status();
  return forward::PeerExpectation{*std::move(policy), std::move(description)};
}

}  // namespace

absl::StatusOr<forward::GatewayContext> GatewayOf(const config::v1::GatewayClients& g) {
  forward::GatewayContext gateway;
  ASSIGN_OR_RETURN(gateway.identity_from, identity::ParseIdentityFrom(g.identity_from()));
  const auto& a = g.allow();
  auto policy = identity::GatewayPolicy::Create(
      gateway.identity_from, {a.identities().begin(), a.identities().end()},
      {a.dns_wildcards().begin(), a.dns_wildcards().end()},
      {a.subjects().begin(), a.subjects().end()});
  if (!policy.ok()) {
    return absl::Status(policy.status().code(),
                        absl::StrCat("gateway.allow.", policy.status().message()));
  }
  gateway.policy = *std::move(policy);
  auto trust = gateway::LoadGatewayTrust(g);
  if (!trust.ok()) {
    return absl::Status(trust.status().code(), absl::StrCat("gateway.", trust.status().message()));
  }
  gateway.trust = *std::move(trust);
  return gateway;
}

absl::StatusOr<forward::ListenerPolicy> InboundPolicy(const config::v1::InboundListener& in) {
  forward::ListenerPolicy result;
  if (!in.has_authorization()) {
    result.description = "this proxy's own trust domain";
    return result;
  }
  const auto& a = in.authorization();
  auto policy =
      identity::AuthorizationPolicy::Create({a.spiffe_ids().begin(), a.spiffe_ids().end()},
                                            {a.trust_domains().begin(), a.trust_domains().end()},
                                            {a.path_prefixes().begin(), a.path_prefixes().end()});
  if (!policy.ok()) return Named("inbound", in.name(), policy.status());
  result.policy = *std::move(policy);
  std::vector<std::string> parts(a.spiffe_ids().begin(), a.spiffe_ids().end());
  for (const auto& d : a.trust_domains()) parts.push_back("trust domain " + d);
  for (const auto& p : a.path_prefixes()) parts.push_back(p + "*");
  result.description = absl::StrJoin(parts, ", ");
  return result;
}

absl::StatusOr<std::unique_ptr<forward::ListenerContext>> InboundContext(
    const config::v1::InboundListener& in, const config::v1::RuntimeConfig& runtime) {
  auto c = std::make_unique<forward::ListenerContext>();
  c->name = in.name();
  c->label = absl::StrCat("listener ", in.name());
  c->direction = forward::Direction::kInbound;
  auto address = net::SocketAddress::Parse(in.address());
  if (!address.ok()) return Named("inbound", in.name(), address.status());
  c->address = *address;
  auto forward_to = net::SocketAddress::Parse(in.forward_to());
  if (!forward_to.ok()) return Named("inbound", in.name(), forward_to.status());
  c->forward_to = *forward_to;
  c->original_destination = in.original_destination();
  ASSIGN_OR_RETURN(forward::ListenerPolicy policy, InboundPolicy(in));
  c->policy = std::move(policy.policy);
  c->policy_description = std::move(policy.description);
  if (in.caller_identity().mode() == "proxy_protocol") {
    c->caller_identity.mode = forward::CallerIdentityMode::kProxyProtocol;
  } else if (in.caller_identity().mode() == "http_header") {
    c->caller_identity.mode = forward::CallerIdentityMode::kHttpHeader;
    const config::v1::CallerIdentity& caller = in.caller_identity();
    c->caller_identity.header_name =
        caller.header_name().empty() ? config::kDefaultCallerIdentityHeader : caller.header_name();
    c->caller_identity.max_header_bytes = caller.max_header_bytes() == 0
                                              ? config::kDefaultCallerIdentityMaxHeaderBytes
                                              : caller.max_header_bytes();
  }
  if (!in.min_tls_version().empty()) {
    c->min_tls_version = in.min_tls_version() == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION;
  }
  if (in.has_gateway()) {
    absl::StatusOr<forward::GatewayContext> gateway = GatewayOf(in.gateway());
    if (!gateway.ok()) return Named("inbound", in.name(), gateway.status());
    c->policy_description = gateway->policy.Describe();
    c->gateway = *std::move(gateway);
  }
  ApplyCommon(in.limits(), in.timeouts(), runtime, c.get());
  return c;
}

absl::StatusOr<std::unique_ptr<forward::ListenerContext>> OutboundContext(
    const config::v1::OutboundListener& out, const config::v1::RuntimeConfig& runtime) {
  auto c = std::make_unique<forward::ListenerContext>();
  c->name = out.name();
  c->label = absl::StrCat("listener ", out.name());
  c->direction = forward::Direction::kOutbound;
  auto address = net::SocketAddress::Parse(out.address());
  if (!address.ok()) return Named("outbound", out.name(), address.status());
  c->address = *address;
  c->original_destination = out.original_destination();
  if (!c->original_destination) {
    auto upstream = net::HostPort::Parse(out.upstream());
    if (!upstream.ok()) return Named("outbound", out.name(), upstream.status());
    c->upstream = *upstream;
    if (net::IsIpLiteral(upstream->host)) {
      auto address = net::SocketAddress::Parse(upstream->ToString());
      if (!address.ok()) return Named("outbound", out.name(), address.status());
      c->upstream_address = *address;
    }
    c->session_key = absl::StrCat(out.name(), "|", upstream->ToString());
  }
  auto expected = Expectation(out.expected_peer());
  if (!expected.ok()) return Named("outbound", out.name(), expected.status());
  c->policy = std::move(expected->policy);
  c->policy_description = std::move(expected->description);
  for (const auto& rule : out.destinations()) {
    auto pattern = net::AddressPattern::Parse(rule.address());
    if (!pattern.ok()) return Named("outbound", out.name(), pattern.status());
    auto rule_expected = Expectation(rule.expected_peer());
    if (!rule_expected.ok()) return Named("outbound", out.name(), rule_expected.status());
    c->destinations.push_back(forward::DestinationRule{*pattern, *std::move(rule_expected)});
  }
  ApplyCommon(out.limits(), out.timeouts(), runtime, c.get());
  return c;
}

absl::StatusOr<std::unique_ptr<ProxyServer>> ProxyServer::Create(
    const config::v1::ProxyConfig& config, credentials::CredentialStore* store,
    forward::ConnectionObserver* observer) {
  std::unique_ptr<ProxyServer> server(new ProxyServer(config, store));
  for (const auto& in : config.inbound()) {
    ASSIGN_OR_RETURN(std::unique_ptr<forward::ListenerContext> c,
                     InboundContext(in, config.runtime()));
    server->contexts_.push_back(std::move(c));
  }
  for (const auto& out : config.outbound()) {
    ASSIGN_OR_RETURN(std::unique_ptr<forward::ListenerContext> c,
                     OutboundContext(out, config.runtime()));
    server->contexts_.push_back(std::move(c));
  }
  const int workers = config.runtime().workers() > 0
                          ? static_cast<int>(config.runtime().workers())
                          : std::max(1u, std::thread::hardware_concurrency());
  Worker::Options options;
  options.resumption = !config.tls().has_session_resumption() || config.tls().session_resumption();
  options.verified_chain_cache =
      !config.tls().has_verified_chain_cache() || config.tls().verified_chain_cache();
  const auto& reauth = config.reauthentication();
  options.reauthentication.on_peer_expiry = reauth.has_on_peer_expiry()
                                                ? reauth.on_peer_expiry()
                                                : config::kDefaultReauthenticateOnPeerExpiry;
  options.reauthentication.on_root_removed =
      !reauth.has_on_root_removed() || reauth.on_root_removed();
  options.reauthentication.on_policy_change =
      !reauth.has_on_policy_change() || reauth.on_policy_change();
  options.reauthentication.on_revocation = !reauth.has_on_revocation() || reauth.on_revocation();
  options.reauthentication.grace_period = config::DurationOr(
      reauth.has_grace_period(), reauth.grace_period(), config::kDefaultGracePeriod);
  options.dns_cache = config::DurationOr(config.runtime().has_dns_cache(),
                                         config.runtime().dns_cache(), config::kDefaultDnsCache);
  options.workers = workers;
  for (int i = 0; i < workers; ++i) {
    ASSIGN_OR_RETURN(std::unique_ptr<Worker> worker, Worker::Create(i, options, observer));
    server->workers_.push_back(std::move(worker));
  }
  return server;
}

ProxyServer::ProxyServer(config::v1::ProxyConfig config, credentials::CredentialStore* store)
    : config_(std::move(config)),
      store_(store),
      current_(std::make_shared<const config::v1::ProxyConfig>(config_)) {}

std::vector<BoundListener> ProxyServer::listeners() const {
  if (!started_.load()) return {};
  sync::MutexLock lock(&mutex_);
  return bound_;
}

std::shared_ptr<const config::v1::ProxyConfig> ProxyServer::config() const {
  sync::MutexLock lock(&mutex_);
  return current_;
}

ProxyServer::~ProxyServer() { Stop(); }

namespace {

// One socket per worker for `context`; `bound` gets the address they share.
absl::StatusOr<std::vector<net::UniqueFd>> BindSockets(const forward::ListenerContext& context,
                                                       size_t workers, net::SocketAddress* bound) {
  // The first socket fixes the port (it may have been 0); the others join it.
  net::SocketAddress address = context.address;
  std::vector<net::UniqueFd> sockets;
  for (size_t i = 0; i < workers; ++i) {
    absl::StatusOr<net::UniqueFd> socket = net::BindListener(address, /*reuse_port=*/true);
    if (!socket.ok()) {
      return absl::Status(socket.status().code(),
                          absl::StrCat(forward::DirectionName(context.direction), " listener \"",
                                       context.name, "\": ", socket.status().message()));
    }
    if (address.port() == 0) {
      ASSIGN_OR_RETURN(address, net::LocalAddressOf(socket->get()));
    }
    sockets.push_back(*std::move(socket));
  }
  *bound = address;
  return sockets;
}

}  // namespace

absl::Status ProxyServer::Start() {
  for (const auto& context : contexts_) {
    net::SocketAddress address;
    ASSIGN_OR_RETURN(std::vector<net::UniqueFd> sockets,
                     BindSockets(*context, workers_.size(), &address));
    for (size_t i = 0; i < workers_.size(); ++i) {
      workers_[i]->AddListener(context.get(), std::move(sockets[i]));
    }
    sync::MutexLock lock(&mutex_);
    bound_.push_back(BoundListener{context->name, context->direction, address});
  }
  for (auto& worker : workers_) worker->Start();
  store_->Subscribe([this](const credentials::CredentialStore::Snapshot& snapshot) {
    for (auto& worker : workers_) worker->PublishSnapshot(snapshot);
  });
  started_ = true;
  return absl::OkStatus();
}

absl::Duration ProxyServer::DrainTimeout() const {
  const auto& runtime = config_.runtime();
  return config::DurationOr(runtime.has_drain_timeout(), runtime.drain_timeout(),
                            config::kDefaultDrainTimeout);
}

void ProxyServer::BeginDrain() {
  if (draining_.exchange(true)) return;
  const absl::Duration timeout = DrainTimeout();
  for (auto& worker : workers_) {
    worker->Drain(timeout, [this] {
      if (++workers_drained_ == static_cast<int>(workers_.size())) drained_.Notify();
    });
  }
}

bool ProxyServer::WaitDrained(absl::Duration timeout) {
  return drained_.WaitForNotificationWithTimeout(timeout);
}

void ProxyServer::Drain() {
  BeginDrain();
  WaitDrained(DrainTimeout() + absl::Seconds(5));
}

void ProxyServer::Stop() {
  for (auto& worker : workers_) worker->Stop();
}

namespace {

// The listener `name` of `config` as a context; nullptr when it has none.
absl::StatusOr<std::unique_ptr<forward::ListenerContext>> ContextOf(
    const config::v1::ProxyConfig& config, const std::string& name) {
  for (const auto& in : config.inbound()) {
    if (in.name() == name) return InboundContext(in, config.runtime());
  }
  for (const auto& out : config.outbound()) {
    if (out.name() == name) return OutboundContext(out, config.runtime());
  }
  return nullptr;
}

std::string AddressIn(const config::v1::ProxyConfig& config, const std::string& name) {
  for (const auto& in : config.inbound()) {
    if (in.name() == name) return in.address();
  }
  for (const auto& out : config.outbound()) {
    if (out.name() == name) return out.address();
  }
  return "";
}

}  // namespace

absl::StatusOr<ReloadSummary> ProxyServer::Reload(const config::v1::ProxyConfig& next) {
  sync::MutexLock reload_lock(&reload_mutex_);
  if (!started_.load()) return absl::FailedPreconditionError("the listeners are not up yet");
  if (draining_.load()) {
    return absl::FailedPreconditionError("draining: the proxy exits once drained");
  }
  const std::shared_ptr<const config::v1::ProxyConfig> running = config();
  const std::vector<BoundListener> bound_before = listeners();
  const config::ListenerDiff diff = config::DiffListeners(*running, next);
  const auto current = [this](const std::string& name) -> forward::ListenerContext* {
    for (const auto& c : contexts_) {
      if (c->name == name) return c.get();
    }
    return nullptr;
  };
  const auto bound_of = [&bound_before](const std::string& name) -> net::SocketAddress {
    for (const auto& b : bound_before) {
      if (b.name == name) return b.address;
    }
    return net::SocketAddress();
  };

  // Everything that can fail first (build each new context, bind each new
  // socket): a failure drops what was made, and nothing has changed.
  struct Planned {
    std::unique_ptr<forward::ListenerContext> context;
    forward::ListenerContext* old = nullptr;  // a changed listener's running context
    bool same_socket = false;
    std::vector<net::UniqueFd> sockets;  // one per worker, unless same_socket
    net::SocketAddress bound;
  };
  std::vector<Planned> planned;
  for (const auto* names : {&diff.changed, &diff.added}) {
    for (const std::string& name : *names) {
      Planned p;
      ASSIGN_OR_RETURN(p.context, ContextOf(next, name));
      if (names == &diff.changed) {
        p.old = current(name);
        // The same address as written, or the port it was given for 0.
        const net::SocketAddress was = bound_of(name);
        p.same_socket = AddressIn(next, name) == AddressIn(*running, name) ||
                        p.context->address.ToString() == was.ToString();
        if (p.same_socket) p.bound = was;
        // max_connections counts the connections from before the change too.
        p.context->active = p.old->active;
        p.context->origin = &p.old->Origin();
      }
      if (!p.same_socket) {
        ASSIGN_OR_RETURN(p.sockets, BindSockets(*p.context, workers_.size(), &p.bound));
      }
      planned.push_back(std::move(p));
    }
  }

  // A changed inbound listener's authorization re-judges the connections of
  // every context it had (a connection keeps the one it started with), in
  // the same turn as the swap: no connection is judged by a stale one.
  std::vector<
      std::pair<const forward::ListenerContext*, std::shared_ptr<const forward::ListenerPolicy>>>
      policies;
  for (const Planned& p : planned) {
    if (p.old == nullptr || p.context->direction != forward::Direction::kInbound) continue;
    policies.emplace_back(&p.context->Origin(),
                          std::make_shared<const forward::ListenerPolicy>(forward::ListenerPolicy{
                              p.context->policy, p.context->policy_description}));
  }

  std::vector<Worker::ListenerChanges> changes(workers_.size());
  for (size_t i = 0; i < workers_.size(); ++i) {
    Worker::ListenerChanges& c = changes[i];
    c.drain_timeout = DrainTimeout();
    c.policies = policies;
    for (const std::string& name : diff.removed) c.remove.push_back(current(name));
    for (Planned& p : planned) {
      if (p.same_socket) {
        c.swap.emplace_back(p.old, p.context.get());
        continue;
      }
      if (p.old != nullptr) c.close.push_back(p.old);
      c.add.emplace_back(p.context.get(), std::move(p.sockets[i]));
    }
  }
  ApplyOnWorkers(std::move(changes));

  // The running contexts, and where each listens, in the new file's order.
  ReloadSummary summary;
  summary.added = diff.added;
  summary.removed = diff.removed;
  summary.changed = diff.changed;
  for (const std::string& name : diff.removed) {
    for (auto& c : contexts_) {
      if (c != nullptr && c->name == name) retired_.push_back(std::move(c));
    }
  }
  std::vector<std::unique_ptr<forward::ListenerContext>> contexts;
  std::vector<BoundListener> bound;
  const auto place = [&](const std::string& name) {
    for (Planned& p : planned) {
      if (p.context == nullptr || p.context->name != name) continue;
      if (p.old != nullptr) {
        for (auto& c : contexts_) {
          if (c.get() == p.old) retired_.push_back(std::move(c));
        }
      } else {
        summary.added_bound.push_back(BoundListener{name, p.context->direction, p.bound});
      }
      bound.push_back(BoundListener{name, p.context->direction, p.bound});
      contexts.push_back(std::move(p.context));
      return;
    }
    for (auto& c : contexts_) {
      if (c != nullptr && c->name == name) {
        bound.push_back(BoundListener{name, c->direction, bound_of(name)});
        contexts.push_back(std::move(c));
        return;
      }
    }
  };
  for (const auto& in : next.inbound()) place(in.name());
  for (const auto& out : next.outbound()) place(out.name());
  contexts_ = std::move(contexts);

  sync::MutexLock lock(&mutex_);
  bound_ = std::move(bound);
  current_ = std::make_shared<const config::v1::ProxyConfig>(next);
  return summary;
}

void ProxyServer::ApplyOnWorkers(std::vector<Worker::ListenerChanges> changes) {
  struct Pending {
    sync::Mutex mutex;
    size_t left ABSL_GUARDED_BY(mutex) = 0;
  };
  auto pending = std::make_shared<Pending>();
  {
    sync::MutexLock lock(&pending->mutex);
    pending->left = workers_.size();
  }
  for (size_t i = 0; i < workers_.size(); ++i) {
    workers_[i]->ApplyListenerChanges(std::move(changes[i]), [pending] {
      sync::MutexLock lock(&pending->mutex);
      --pending->left;
      pending->mutex.NotifyAll();
    });
  }
  // A worker is never stuck for long; should one be, it applies them later.
  sync::MutexLock lock(&pending->mutex);
  pending->mutex.AwaitWithTimeout([&pending]()
                                      ABSL_NO_THREAD_SAFETY_ANALYSIS { return pending->left == 0; },
                                  absl::Seconds(10));
}

const forward::ListenerContext* ProxyServer::ListenerContextOf(const std::string& name) {
  sync::MutexLock lock(&reload_mutex_);
  for (const auto& c : contexts_) {
    if (c != nullptr && c->name == name) return c.get();
  }
  return nullptr;
}

void ProxyServer::UpdateGatewayTrust(const forward::ListenerContext* listener,
                                     std::shared_ptr<const identity::GatewayTrust> trust) {
  for (auto& worker : workers_) worker->UpdateGatewayTrust(listener, trust);
}

std::map<std::string, uint64_t> ProxyServer::ConnectionsByRoot() {
  // Shared with the workers' callbacks, which may outlive a timed-out wait.
  struct Tally {
    sync::Mutex mutex;
    std::map<std::string, uint64_t> total ABSL_GUARDED_BY(mutex);
    int pending ABSL_GUARDED_BY(mutex) = 0;
  };
  auto tally = std::make_shared<Tally>();
  {
    sync::MutexLock lock(&tally->mutex);
    tally->pending = static_cast<int>(workers_.size());
  }
  for (auto& worker : workers_) {
    worker->CountConnectionsByRoot([tally](std::map<std::string, uint64_t> counts) {
      sync::MutexLock lock(&tally->mutex);
      for (const auto& [root, n] : counts) tally->total[root] += n;
      --tally->pending;
      tally->mutex.NotifyAll();
    });
  }
  sync::MutexLock lock(&tally->mutex);
  tally->mutex.AwaitWithTimeout(
      [&tally]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return tally->pending == 0; }, absl::Seconds(5));
  return tally->total;
}

}  // namespace palisade::server
