#include "proxy/server/proxy_server.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "proxy/config/config_defaults.h"
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
    : config_(std::move(config)), store_(store) {}

ProxyServer::~ProxyServer() { Stop(); }

absl::Status ProxyServer::Start() {
  for (const auto& context : contexts_) {
    // The first socket fixes the port (it may have been 0); the others join it.
    net::SocketAddress address = context->address;
    for (auto& worker : workers_) {
      absl::StatusOr<net::UniqueFd> socket = net::BindListener(address, /*reuse_port=*/true);
      if (!socket.ok()) {
        return absl::Status(socket.status().code(),
                            absl::StrCat(forward::DirectionName(context->direction), " listener \"",
                                         context->name, "\": ", socket.status().message()));
      }
      if (address.port() == 0) {
        ASSIGN_OR_RETURN(address, net::LocalAddressOf(socket->get()));
      }
      worker->AddListener(context.get(), *std::move(socket));
    }
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

absl::StatusOr<std::vector<std::string>> ProxyServer::ReloadPolicies(
    const config::v1::ProxyConfig& config) {
  // Build every policy first: a bad one changes nothing at all.
  std::vector<
      std::pair<const forward::ListenerContext*, std::shared_ptr<const forward::ListenerPolicy>>>
      updates;
  std::vector<std::string> names;
  for (const auto& in : config.inbound()) {
    const forward::ListenerContext* context = nullptr;
    for (const auto& c : contexts_) {
      if (c->direction == forward::Direction::kInbound && c->name == in.name()) context = c.get();
    }
    if (context == nullptr) continue;  // new listeners need a restart
    ASSIGN_OR_RETURN(forward::ListenerPolicy policy, InboundPolicy(in));
    updates.emplace_back(context, std::make_shared<const forward::ListenerPolicy>(policy));
    names.push_back(in.name());
  }
  for (const auto& [context, policy] : updates) {
    for (auto& worker : workers_) worker->UpdatePolicy(context, policy);
  }
  return names;
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
