// A worker: one thread, one event loop, its own SO_REUSEPORT socket for every
// listener, and the connections it accepted, which live on it for good.
// Nothing on the per-connection path takes a lock: the credential snapshot
// reaches the worker by a posted task and sits in a plain member. Each
// listener's connections still in their handshake are bounded per worker
// (net::PendingConnections), apart from max_connections.
#ifndef PALISADE_PROXY_SERVER_WORKER_H_
#define PALISADE_PROXY_SERVER_WORKER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "proxy/forward/connection.h"
#include "proxy/forward/connection_host.h"
#include "runtime/event/event_loop.h"
#include "runtime/net/acceptor.h"
#include "runtime/net/pending_connections.h"
#include "runtime/net/resolver.h"
#include "runtime/net/unique_fd.h"

namespace palisade::server {

// When live connections are closed because their trust ended.
struct ReauthenticationPolicy {
  bool on_peer_expiry = false;  // rotation is not a loss of trust
  bool on_root_removed = true;
  bool on_policy_change = true;
  bool on_revocation = true;  // the control plane's deny-list lists the peer
  absl::Duration grace_period = absl::Seconds(10);
};

// Created and configured on the main thread; after Start() only the
// thread-safe methods may be called from outside.
class Worker final : public forward::ConnectionHost {
 public:
  struct Options {
    absl::Duration clock_skew = absl::ZeroDuration();
    bool resumption = true;
    bool verified_chain_cache = true;  // tls.verified_chain_cache
    ReauthenticationPolicy reauthentication;
    std::function<absl::Time()> clock = [] { return absl::Now(); };
    absl::Duration dns_cache = absl::Seconds(5);  // see net::Resolver::Options
    // Workers sharing each listener. A listener's pending-handshake bounds
    // (max_pending_handshakes, ..._per_source) are split evenly among them,
    // at least 1 each: SO_REUSEPORT spreads connections, one source's
    // included, by a hash of the address pair, so the shares add up to about
    // the configured bound.
    int workers = 1;
  };

  static absl::StatusOr<std::unique_ptr<Worker>> Create(int index, Options options,
                                                        forward::ConnectionObserver* observer);
  ~Worker() override;

  // Before Start(): serve `listener` on this worker's own socket.
  void AddListener(const forward::ListenerContext* listener, net::UniqueFd socket);
  void Start();
  // Thread-safe: the verified-chain cache's entries and hits, on the loop.
  void CountVerifiedChains(std::function<void(size_t entries, uint64_t hits)> done);
  // Stops the loop and joins; connections still open are closed.
  void Stop();

  // Thread-safe. Hands this worker a connection accepted elsewhere (or one
  // end of a socketpair, in tests) as if its own socket for `listener` had
  // accepted it from `peer`.
  void Adopt(const forward::ListenerContext* listener, net::UniqueFd fd, net::SocketAddress peer);
  // Thread-safe.
  void PublishSnapshot(std::shared_ptr<const credentials::CredentialSnapshot> snapshot);
  // Stops accepting; live connections go on as before. Near the end (a
  // grace period before `timeout`, at most half of it) those still open are
  // asked to finish without losing a byte; at `timeout` what is left is
  // reset ("drained"). `on_drained` runs (on this worker's thread) once none
  // is left.
  void Drain(absl::Duration timeout, std::function<void()> on_drained);
  // What one configuration reload changes on this worker.
  struct ListenerChanges {
    // New listeners, each with this worker's own socket for it.
    std::vector<std::pair<const forward::ListenerContext*, net::UniqueFd>> add;
    // Changed listeners on the same address, old -> new: the socket stays
    // (no connection refused), new connections get the new context, live
    // ones keep the one they started with.
    std::vector<std::pair<const forward::ListenerContext*, const forward::ListenerContext*>> swap;
    // Changed listeners that moved (their new socket is in `add`): the old
    // socket closes; live connections go on with their settings.
    std::vector<const forward::ListenerContext*> close;
    // Removed listeners: the socket closes, and their live connections are
    // drained as Drain() does, within `drain_timeout`.
    std::vector<const forward::ListenerContext*> remove;
    absl::Duration drain_timeout = absl::Seconds(30);
    // Changed inbound authorizations, by the listener's Origin(): as
    // UpdatePolicy, applied with the rest.
    std::vector<
        std::pair<const forward::ListenerContext*, std::shared_ptr<const forward::ListenerPolicy>>>
        policies;
  };
  // Thread-safe. `done` runs on this worker's thread once applied (at once,
  // with nothing applied, when the worker is draining).
  void ApplyListenerChanges(ListenerChanges changes, std::function<void()> done);
  // A reloaded authorization for `listener` (inbound; its Origin(), which
  // stands for every context the listener had): new connections use
  // it, and live ones whose peer it no longer allows are closed gracefully
  // ("policy_changed") unless re-authentication on policy change is off.
  void UpdatePolicy(const forward::ListenerContext* listener,
                    std::shared_ptr<const forward::ListenerPolicy> policy);
  // A gateway listener's reloaded trust store: new handshakes use it; live
  // connections whose client it revokes (or, with on_root_removed, no longer
  // anchors) close gracefully ("certificate_revoked", "untrusted_chain").
  void UpdateGatewayTrust(const forward::ListenerContext* listener,
                          std::shared_ptr<const identity::GatewayTrust> trust);
  // Live connections by the fingerprint of the root their peer chains to;
  // `done` runs on this worker's thread.
  void CountConnectionsByRoot(std::function<void(std::map<std::string, uint64_t>)> done);

  // ConnectionHost (loop thread).
  event::EventLoop* loop() override { return loop_.get(); }
  const std::shared_ptr<const credentials::CredentialSnapshot>& snapshot() override {
    return snapshot_;
  }
  absl::Time Now() override { return options_.clock(); }
  absl::Duration clock_skew() override { return options_.clock_skew; }
  absl::Duration close_grace() override { return options_.reauthentication.grace_period; }
  forward::ConnectionObserver* observer() override { return observer_; }
  void Park(forward::Connection* connection) override { parked_.insert(connection); }
  void Unpark(forward::Connection* connection) override { parked_.erase(connection); }
  bssl::UniquePtr<SSL_SESSION> TakeSession(const std::string& key) override;
  void StoreSession(const std::string& key, bssl::UniquePtr<SSL_SESSION> session,
                    absl::Time peer_valid_until, uint64_t snapshot_generation) override;
  void ForgetSession(const std::string& key) override { sessions_.erase(key); }
  bool resumption_enabled() override { return options_.resumption; }
  verify::VerifiedChainCache* verified_chains() override {
    return options_.verified_chain_cache ? &verified_chains_ : nullptr;
  }
  std::shared_ptr<const forward::ListenerPolicy> ReloadedPolicy(
      const forward::ListenerContext& listener) override;
  bool PolicyAllows(const forward::Connection& connection) override;
  std::shared_ptr<const identity::GatewayTrust> GatewayTrust(
      const forward::ListenerContext& listener) override;
  std::shared_ptr<void> Resolve(const net::HostPort& upstream, ResolveCallback callback) override;
  void HandshakeFinished(forward::Connection* connection) override;
  void Release(forward::Connection* connection) override;

 private:
  struct Listening {
    const forward::ListenerContext* listener;
    net::UniqueFd socket;
    std::unique_ptr<net::Acceptor> acceptor;  // loop thread
  };

  Worker(int index, Options options, forward::ConnectionObserver* observer,
         std::unique_ptr<event::EventLoop> loop);
  void StartAccepting();
  void StartAcceptor(Listening& listening);
  void ApplyOnLoop(ListenerChanges& changes);
  void ApplyPolicy(const forward::ListenerContext* origin,
                   std::shared_ptr<const forward::ListenerPolicy> policy);
  // Stops accepting for `listener` and closes its socket.
  void StopListening(const forward::ListenerContext* listener);
  // A removed listener's connections, drained as Drain() does.
  void RetireListener(const forward::ListenerContext* listener, absl::Duration timeout);
  void OnAccepted(const forward::ListenerContext* listener, net::UniqueFd fd,
                  const net::SocketAddress& peer);
  // This worker's share of `listener`'s pending-handshake bounds.
  net::PendingConnections& PendingOf(const forward::ListenerContext& listener);
  void InstallSnapshot(std::shared_ptr<const credentials::CredentialSnapshot> snapshot);
  void Reauthenticate();
  void CheckDrained();

  const int index_;
  const Options options_;
  forward::ConnectionObserver* const observer_;
  std::unique_ptr<event::EventLoop> loop_;
  std::thread thread_;

  // Loop thread only from here on.
  std::vector<Listening> listening_;
  bool accepting_ = false;  // StartAccepting ran: new listeners accept at once
  // Removed listeners whose connections are being drained.
  struct Retiring {
    const forward::ListenerContext* listener;
    std::unique_ptr<event::Timer> wind_down;
    std::unique_ptr<event::Timer> cut;
  };
  std::vector<std::unique_ptr<Retiring>> retiring_;
  std::shared_ptr<const credentials::CredentialSnapshot> snapshot_;
  absl::flat_hash_map<forward::Connection*, std::unique_ptr<forward::Connection>> connections_;
  absl::flat_hash_set<forward::Connection*> parked_;
  // Accepted, handshake not finished, by listener; ids are Connection*.
  absl::flat_hash_map<const forward::ListenerContext*, std::unique_ptr<net::PendingConnections>>
      pending_;
  struct CachedSession {
    bssl::UniquePtr<SSL_SESSION> session;
    absl::Time peer_valid_until;
    uint64_t snapshot_generation = 0;  // of the connection that got the ticket
  };
  absl::flat_hash_map<std::string, CachedSession> sessions_;
  verify::VerifiedChainCache verified_chains_;
  absl::flat_hash_map<const forward::ListenerContext*,
                      std::shared_ptr<const forward::ListenerPolicy>>
      policies_;
  absl::flat_hash_map<const forward::ListenerContext*,
                      std::shared_ptr<const identity::GatewayTrust>>
      gateway_trust_;
  net::Resolver resolver_;
  event::Timer reauth_timer_;
  // Near the end of a drain, live connections are asked to finish.
  event::Timer wind_down_timer_;
  event::Timer drain_timer_;
  bool draining_ = false;
  absl::Duration wind_down_grace_;
  std::function<void()> on_drained_;
};

}  // namespace palisade::server

#endif  // PALISADE_PROXY_SERVER_WORKER_H_
