#include "proxy/server/worker.h"

#include <pthread.h>

#include <algorithm>

#include "identity/certificate.h"
#include "proxy/forward/inbound_connection.h"
#include "proxy/forward/outbound_connection.h"
#include "runtime/net/sockets.h"
#include "runtime/status/status_macros.h"
#include "runtime/verify/peer_verifier.h"

namespace palisade::server {
namespace {

constexpr absl::Duration kReauthenticationScan = absl::Seconds(1);
// How soon accepting is retried after running out of descriptors.
constexpr absl::Duration kAcceptRetry = absl::Milliseconds(100);
// A session is not offered when its peer's certificate expires this soon.
constexpr absl::Duration kSessionPeerMargin = absl::Seconds(5);

}  // namespace

absl::StatusOr<std::unique_ptr<Worker>> Worker::Create(int index, Options options,
                                                       forward::ConnectionObserver* observer) {
  ASSIGN_OR_RETURN(std::unique_ptr<event::EventLoop> loop, event::EventLoop::Create());
  return std::unique_ptr<Worker>(new Worker(index, std::move(options), observer, std::move(loop)));
}

Worker::Worker(int index, Options options, forward::ConnectionObserver* observer,
               std::unique_ptr<event::EventLoop> loop)
    : index_(index),
      options_(std::move(options)),
      observer_(observer),
      loop_(std::move(loop)),
      resolver_(loop_.get(), net::Resolver::Options{options_.dns_cache, {}}),
      reauth_timer_(loop_.get(),
                    [this] {
                      Reauthenticate();
                      reauth_timer_.Arm(kReauthenticationScan);
                    }),
      wind_down_timer_(loop_.get(),
                       [this] {
                         // The drain's end nears: what is still open is asked
                         // to finish without losing a byte, in the time left.
                         std::vector<forward::Connection*> live;
                         for (auto& [raw, owned] : connections_) {
                           if (raw->established()) live.push_back(raw);
                         }
                         for (forward::Connection* c : live) {
                           c->CloseGracefully("drained", wind_down_grace_);
                         }
                       }),
      drain_timer_(loop_.get(), [this] {
        // The drain timeout: whatever is still open is closed now.
        std::vector<forward::Connection*> open;
        for (auto& [raw, owned] : connections_) open.push_back(raw);
        for (forward::Connection* c : open) c->Abort("drained");
      }) {}

Worker::~Worker() { Stop(); }

void Worker::AddListener(const forward::ListenerContext* listener, net::UniqueFd socket) {
  listening_.push_back(Listening{listener, std::move(socket), nullptr});
}

void Worker::Start() {
  thread_ = std::thread([this] {
    const std::string name = "palisade-w" + std::to_string(index_);
    pthread_setname_np(pthread_self(), name.c_str());
    // Tasks posted before Start() (a first snapshot) run before the first
    // accept: posted tasks run in order, and accepting starts as one.
    loop_->Post([this] { StartAccepting(); });
    reauth_timer_.Arm(kReauthenticationScan);
    loop_->Run();
    // Shutting down: close what is left, on this thread, before the loop goes.
    connections_.clear();
    parked_.clear();
    pending_.clear();
    for (Listening& l : listening_) l.acceptor.reset();
    retiring_.clear();
    sessions_.clear();
  });
}

void Worker::StartAccepting() {
  if (draining_) return;
  accepting_ = true;
  for (Listening& l : listening_) StartAcceptor(l);
}

void Worker::StartAcceptor(Listening& l) {
  const forward::ListenerContext* listener = l.listener;
  l.acceptor.reset();  // one watcher per socket
  l.acceptor = std::make_unique<net::Acceptor>(
      loop_.get(), l.socket.get(),
      [this, listener](net::UniqueFd fd, const net::SocketAddress& peer) {
        OnAccepted(listener, std::move(fd), peer);
      },
      [this, listener](const char* reason) { observer_->OnRefused(*listener, reason); },
      net::Acceptor::Options{1024, kAcceptRetry});
  // Takes what queued meanwhile: a swap refuses no connection.
  l.acceptor->Start();
}

void Worker::ApplyListenerChanges(ListenerChanges changes, std::function<void()> done) {
  auto shared = std::make_shared<ListenerChanges>(std::move(changes));
  loop_->Post([this, shared, done = std::move(done)] {
    // Draining: the new sockets close with `shared`; nothing else matters.
    if (!draining_) ApplyOnLoop(*shared);
    done();
  });
}

void Worker::ApplyOnLoop(ListenerChanges& changes) {
  for (const forward::ListenerContext* old : changes.remove) {
    StopListening(old);
    RetireListener(old, changes.drain_timeout);
  }
  for (const forward::ListenerContext* old : changes.close) StopListening(old);
  for (const auto& [old, next] : changes.swap) {
    for (Listening& l : listening_) {
      if (l.listener != old) continue;
      l.listener = next;
      if (accepting_) StartAcceptor(l);
    }
  }
  for (auto& [next, socket] : changes.add) {
    listening_.push_back(Listening{next, std::move(socket), nullptr});
    if (accepting_) StartAcceptor(listening_.back());
  }
  for (auto& [origin, policy] : changes.policies) ApplyPolicy(origin, policy);
}

void Worker::StopListening(const forward::ListenerContext* listener) {
  // The acceptor goes before its socket closes.
  for (Listening& l : listening_) {
    if (l.listener == listener) l.acceptor.reset();
  }
  listening_.erase(
      std::remove_if(listening_.begin(), listening_.end(),
                     [listener](const Listening& l) { return l.listener == listener; }),
      listening_.end());
}

void Worker::RetireListener(const forward::ListenerContext* listener, absl::Duration timeout) {
  const auto of_listener = [this, listener](bool established_only) {
    std::vector<forward::Connection*> found;
    for (auto& [raw, owned] : connections_) {
      if (&raw->listener() == listener && (!established_only || raw->established())) {
        found.push_back(raw);
      }
    }
    return found;
  };
  // Parked connections (no identity yet) have nothing to finish.
  std::vector<forward::Connection*> waiting;
  for (forward::Connection* c : parked_) {
    if (&c->listener() == listener) waiting.push_back(c);
  }
  for (forward::Connection* c : waiting) c->Abort("drained");
  const absl::Duration grace = std::min(options_.reauthentication.grace_period, timeout / 2);
  auto retiring = std::make_unique<Retiring>();
  Retiring* raw = retiring.get();
  retiring->listener = listener;
  retiring->wind_down = std::make_unique<event::Timer>(loop_.get(), [of_listener, grace] {
    for (forward::Connection* c : of_listener(true)) c->CloseGracefully("drained", grace);
  });
  retiring->cut = std::make_unique<event::Timer>(loop_.get(), [this, of_listener, raw] {
    for (forward::Connection* c : of_listener(false)) c->Abort("drained");
    // Not from inside the timer's own callback.
    loop_->Post([this, raw] {
      retiring_.erase(std::remove_if(retiring_.begin(), retiring_.end(),
                                     [raw](const auto& r) { return r.get() == raw; }),
                      retiring_.end());
    });
  });
  retiring->wind_down->Arm(timeout - grace);
  retiring->cut->Arm(timeout);
  retiring_.push_back(std::move(retiring));
}

void Worker::Stop() {
  if (!thread_.joinable()) return;
  loop_->Stop();
  thread_.join();
}

void Worker::OnAccepted(const forward::ListenerContext* listener, net::UniqueFd fd,
                        const net::SocketAddress& peer) {
  if (draining_) return;  // closing `fd` refuses it
  // Established connections only: a handshake that cannot be served is not
  // begun. Pending ones are bounded below instead.
  if (listener->active->load(std::memory_order_relaxed) >= listener->max_connections) {
    observer_->OnRefused(*listener, "max_connections");
    return;
  }
  if (listener->direction == forward::Direction::kOutbound && snapshot_ != nullptr &&
      snapshot_->not_after <= Now()) {
    // An expired SVID is no identity: say so at once rather than take the
    // app's bytes and drop them when the handshake cannot happen.
    observer_->OnRefused(*listener, "identity_expired");
    return;
  }
  std::unique_ptr<forward::Connection> connection;
  if (listener->direction == forward::Direction::kInbound) {
    connection = std::make_unique<forward::InboundConnection>(this, listener, std::move(fd), peer);
  } else {
    connection = std::make_unique<forward::OutboundConnection>(this, listener, std::move(fd), peer);
  }
  forward::Connection* raw = connection.get();
  connections_.emplace(raw, std::move(connection));
  // The new connection is always admitted; when that takes its source or the
  // listener past its share, the oldest pending one (the source's own first)
  // makes room. A real client finishes its handshake in milliseconds, so the
  // oldest is the one that has said least.
  const std::optional<net::PendingConnections::Id> evict =
      PendingOf(*listener).Admit(reinterpret_cast<uintptr_t>(raw), peer);
  if (evict.has_value()) {
    auto victim = connections_.find(reinterpret_cast<forward::Connection*>(*evict));
    if (victim != connections_.end()) victim->first->Abort("pending_evicted");
  }
  raw->Start();
}

net::PendingConnections& Worker::PendingOf(const forward::ListenerContext& listener) {
  std::unique_ptr<net::PendingConnections>& table = pending_[&listener];
  if (table == nullptr) {
    const uint32_t workers = static_cast<uint32_t>(std::max(options_.workers, 1));
    net::PendingConnections::Limits limits;
    limits.max_pending = std::max<uint32_t>(listener.max_pending_handshakes / workers, 1);
    limits.max_pending_per_source =
        std::max<uint32_t>(listener.max_pending_handshakes_per_source / workers, 1);
    table = std::make_unique<net::PendingConnections>(limits);
  }
  return *table;
}

void Worker::HandshakeFinished(forward::Connection* connection) {
  PendingOf(connection->listener()).Finish(reinterpret_cast<uintptr_t>(connection));
}

void Worker::Adopt(const forward::ListenerContext* listener, net::UniqueFd fd,
                   net::SocketAddress peer) {
  loop_->Post([this, listener, fd = std::make_shared<net::UniqueFd>(std::move(fd)), peer] {
    OnAccepted(listener, std::move(*fd), peer);
  });
}

void Worker::PublishSnapshot(std::shared_ptr<const credentials::CredentialSnapshot> snapshot) {
  loop_->Post(
      [this, snapshot = std::move(snapshot)]() mutable { InstallSnapshot(std::move(snapshot)); });
}

void Worker::InstallSnapshot(std::shared_ptr<const credentials::CredentialSnapshot> snapshot) {
  const bool first = snapshot_ == nullptr;
  const bool roots_changed = first || snapshot_->bundle_generation != snapshot->bundle_generation;
  const bool deny_list_changed = !first && snapshot_->deny_list != snapshot->deny_list;
  snapshot_ = std::move(snapshot);
  // Our SVID or the bundle changed: sessions from before must not resume.
  sessions_.clear();
  if (first) {
    std::vector<forward::Connection*> waiting(parked_.begin(), parked_.end());
    for (forward::Connection* c : waiting) c->OnIdentityAvailable();
  }
  if (roots_changed && !first && options_.reauthentication.on_root_removed) {
    const auto fingerprints = snapshot_->bundles.Fingerprints();
    std::vector<forward::Connection*> untrusted;
    for (auto& [raw, owned] : connections_) {
      if (!raw->established() || !raw->peer().has_value()) continue;
      // Only the peer's own trust domain can anchor it.
      auto domain = fingerprints.find(raw->peer()->spiffe_id.trust_domain());
      if (domain == fingerprints.end() ||
          std::find(domain->second.begin(), domain->second.end(), raw->peer()->root_fingerprint) ==
              domain->second.end()) {
        untrusted.push_back(raw);
      }
    }
    for (forward::Connection* c : untrusted) {
      c->CloseGracefully("root_removed", options_.reauthentication.grace_period);
    }
  }
  if (deny_list_changed && snapshot_->deny_list != nullptr &&
      options_.reauthentication.on_revocation) {
    // Connections still in their handshake are judged when it ends
    // (Connection::OnHandshakeResult asks the current snapshot).
    std::vector<forward::Connection*> revoked;
    for (auto& [raw, owned] : connections_) {
      if (raw->established() && raw->peer().has_value() &&
          snapshot_->deny_list->Contains(raw->peer()->spiffe_id)) {
        revoked.push_back(raw);
      }
    }
    for (forward::Connection* c : revoked) {
      c->CloseGracefully("revoked", options_.reauthentication.grace_period);
    }
  }
}

void Worker::Reauthenticate() {
  if (!options_.reauthentication.on_peer_expiry) return;
  const absl::Time now = Now();
  std::vector<forward::Connection*> expired;
  for (auto& [raw, owned] : connections_) {
    if (!raw->established()) continue;
    const absl::Time not_after = raw->peer().has_value()     ? raw->peer()->chain_not_after
                                 : raw->client().has_value() ? raw->client()->chain_not_after
                                                             : absl::InfiniteFuture();
    if (not_after + options_.clock_skew <= now) expired.push_back(raw);
  }
  for (forward::Connection* c : expired) {
    c->CloseGracefully("peer_expired", options_.reauthentication.grace_period);
  }
}

bssl::UniquePtr<SSL_SESSION> Worker::TakeSession(const std::string& key) {
  auto it = sessions_.find(key);
  if (it == sessions_.end()) return nullptr;
  if (snapshot_ == nullptr || it->second.snapshot_generation != snapshot_->generation) {
    // Made with a certificate of ours that has been superseded since (the
    // ticket may have arrived after the swap cleared the cache).
    sessions_.erase(it);
    return nullptr;
  }
  if (it->second.peer_valid_until <= Now() + kSessionPeerMargin) {
    sessions_.erase(it);  // the peer has (or soon will have) renewed: full handshake
    return nullptr;
  }
  // Kept for further connections until a newer ticket replaces it.
  return bssl::UpRef(it->second.session);
}

void Worker::StoreSession(const std::string& key, bssl::UniquePtr<SSL_SESSION> session,
                          absl::Time peer_valid_until, uint64_t snapshot_generation) {
  sessions_[key] = CachedSession{std::move(session), peer_valid_until, snapshot_generation};
}

std::shared_ptr<void> Worker::Resolve(const net::HostPort& upstream, ResolveCallback callback) {
  return resolver_.Resolve(upstream, std::move(callback));
}

void Worker::Release(forward::Connection* connection) {
  PendingOf(connection->listener()).Finish(reinterpret_cast<uintptr_t>(connection));
  // Destroy after the current callback has unwound.
  loop_->Post([this, connection] {
    connections_.erase(connection);
    if (draining_) CheckDrained();
  });
}

void Worker::Drain(absl::Duration timeout, std::function<void()> on_drained) {
  loop_->Post([this, timeout, on_drained = std::move(on_drained)]() mutable {
    if (draining_) return;
    draining_ = true;
    on_drained_ = std::move(on_drained);
    for (Listening& l : listening_) {
      l.acceptor.reset();
      l.socket.Reset();  // refuse new connections at once
    }
    // Parked connections have nothing to finish.
    std::vector<forward::Connection*> waiting(parked_.begin(), parked_.end());
    for (forward::Connection* c : waiting) c->Abort("drained");
    wind_down_grace_ = std::min(options_.reauthentication.grace_period, timeout / 2);
    wind_down_timer_.Arm(timeout - wind_down_grace_);
    drain_timer_.Arm(timeout);
    CheckDrained();
  });
}

void Worker::CheckDrained() {
  if (!connections_.empty() || !on_drained_) return;
  wind_down_timer_.Cancel();
  drain_timer_.Cancel();
  auto done = std::move(on_drained_);
  on_drained_ = nullptr;
  done();
}

std::shared_ptr<const forward::ListenerPolicy> Worker::ReloadedPolicy(
    const forward::ListenerContext& listener) {
  auto it = policies_.find(&listener.Origin());
  return it == policies_.end() ? nullptr : it->second;
}

bool Worker::PolicyAllows(const forward::Connection& connection) {
  if (!options_.reauthentication.on_policy_change || snapshot_ == nullptr ||
      !connection.peer().has_value()) {
    return true;
  }
  auto it = policies_.find(&connection.listener().Origin());
  if (it == policies_.end()) return true;  // never reloaded: the handshake judged it
  const identity::AuthorizationPolicy* rule =
      it->second->policy.has_value() ? &*it->second->policy : nullptr;
  return verify::PeerAllowed(rule, snapshot_->spiffe_id.trust_domain(),
                             connection.peer()->spiffe_id);
}

void Worker::UpdatePolicy(const forward::ListenerContext* listener,
                          std::shared_ptr<const forward::ListenerPolicy> policy) {
  loop_->Post([this, listener, policy = std::move(policy)]() mutable {
    ApplyPolicy(listener, std::move(policy));
  });
}

std::shared_ptr<const identity::GatewayTrust> Worker::GatewayTrust(
    const forward::ListenerContext& listener) {
  auto it = gateway_trust_.find(&listener);
  if (it != gateway_trust_.end()) return it->second;
  return listener.gateway.has_value() ? listener.gateway->trust : nullptr;
}

void Worker::UpdateGatewayTrust(const forward::ListenerContext* listener,
                                std::shared_ptr<const identity::GatewayTrust> trust) {
  loop_->Post([this, listener, trust = std::move(trust)]() mutable {
    gateway_trust_[listener] = trust;
    // A client the new store revokes, or no longer anchors, loses its
    // connection (gracefully); other failures (a CRL gone stale) do not.
    // Connections the listener took before a reload changed it count too.
    std::vector<std::pair<forward::Connection*, identity::VerifyReason>> untrusted;
    for (auto& [raw, owned] : connections_) {
      if (&raw->listener().Origin() != &listener->Origin() || !raw->established()) continue;
      const identity::VerifyReason reason = raw->RecheckClient(*trust);
      if (reason == identity::VerifyReason::kCertificateRevoked ||
          (reason == identity::VerifyReason::kUntrustedChain &&
           options_.reauthentication.on_root_removed)) {
        untrusted.emplace_back(raw, reason);
      }
    }
    for (const auto& [c, reason] : untrusted) {
      c->CloseGracefully(std::string(identity::ReasonCode(reason)),
                         options_.reauthentication.grace_period);
    }
  });
}

void Worker::ApplyPolicy(const forward::ListenerContext* origin,
                         std::shared_ptr<const forward::ListenerPolicy> policy) {
  policies_[origin] = std::move(policy);
  // Connections still being set up are judged when they are established
  // (PolicyAllows): their handshake may have used the policy just replaced.
  std::vector<forward::Connection*> denied;
  for (auto& [raw, owned] : connections_) {
    if (&raw->listener().Origin() == origin && raw->established() && !PolicyAllows(*raw)) {
      denied.push_back(raw);
    }
  }
  for (forward::Connection* c : denied) {
    c->CloseGracefully("policy_changed", options_.reauthentication.grace_period);
  }
}

void Worker::CountVerifiedChains(std::function<void(size_t entries, uint64_t hits)> done) {
  loop_->Post(
      [this, done = std::move(done)] { done(verified_chains_.size(), verified_chains_.hits()); });
}

void Worker::CountConnectionsByRoot(std::function<void(std::map<std::string, uint64_t>)> done) {
  loop_->Post([this, done = std::move(done)] {
    std::map<std::string, uint64_t> counts;
    for (auto& [raw, owned] : connections_) {
      if (raw->peer().has_value()) ++counts[raw->peer()->root_fingerprint];
    }
    done(std::move(counts));
  });
}

}  // namespace palisade::server
