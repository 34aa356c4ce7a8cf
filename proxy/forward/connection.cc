#include "proxy/forward/connection.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/net/sockets.h"
#include "runtime/verify/peer_chain.h"

namespace palisade::forward {

Connection::Connection(ConnectionHost* host, const ListenerContext* listener,
                       net::UniqueFd accepted, net::SocketAddress peer_address)
    : host_(host),
      listener_(listener),
      peer_address_(peer_address),
      accepted_(std::move(accepted)),
      timer_(host->loop(), [this] { OnTimer(); }),
      accepted_at_(host->Now()) {}

Connection::~Connection() {
  // The pump refers to the transports, the watchers to the fds, the
  // handshaker to the TLS transport's SSL.
  pump_.reset();
  down_watch_.reset();
  up_watch_.reset();
  handshaker_.reset();
}

void Connection::Start() {
  host_->observer()->OnAccepted(*listener_);
  SelectPolicy();
  if (listener_->original_destination) {
    absl::StatusOr<net::SocketAddress> original = net::OriginalDestinationOf(accepted_.get());
    absl::StatusOr<net::SocketAddress> local = net::LocalAddressOf(accepted_.get());
    // Without a redirect the "original" destination is this listener itself:
    // forwarding there would loop.
    if (!original.ok() || (local.ok() && *original == *local)) {
      Close("no_original_destination");
      return;
    }
    original_destination_ = *original;
    for (const DestinationRule& rule : listener_->destinations) {
      if (rule.address.Matches(original_destination_)) {
        policy_ = &rule.expected.policy;
        policy_description_ = &rule.expected.description;
        break;
      }
    }
  }
  Begin();
}

void Connection::SelectPolicy() {
  if (listener_->policy.has_value()) {
    policy_ = &*listener_->policy;
    policy_description_ = &listener_->policy_description;
  }
  if (reloaded_policy_ = host_->ReloadedPolicy(*listener_); reloaded_policy_ != nullptr) {
    policy_ = reloaded_policy_->policy.has_value() ? &*reloaded_policy_->policy : nullptr;
    policy_description_ = &reloaded_policy_->description;
  }
}

bool Connection::TakeUsableSnapshot() {
  snapshot_ = host_->snapshot();
  if (snapshot_ == nullptr) {
    FailHandshake(kNoIdentityReason, "this proxy has no SVID yet");
    return false;
  }
  if (snapshot_->not_after <= host_->Now()) {
    FailHandshake(kIdentityExpiredReason,
                  absl::StrCat("this proxy's SVID (serial ", snapshot_->serial, ") has expired"));
    return false;
  }
  return true;
}

identity::VerifyReason Connection::RecheckClient(const identity::GatewayTrust& trust) const {
  if (!client_.has_value() || tls_ == nullptr || !listener_->gateway.has_value()) {
    return identity::VerifyReason::kOk;
  }
  const bssl::UniquePtr<STACK_OF(X509)> peer_chain = verify::PeerChainOf(tls_->ssl());
  STACK_OF(X509)* stack = peer_chain.get();
  if (stack == nullptr) return identity::VerifyReason::kOk;
  std::vector<X509*> chain;
  for (size_t i = 0; i < sk_X509_num(stack); ++i) chain.push_back(sk_X509_value(stack, i));
  return trust.Verify(chain, {host_->Now(), host_->clock_skew(), listener_->gateway->identity_from})
      .reason;
}

void Connection::Park() {
  phase_ = Phase::kParked;
  host_->Park(this);
  timer_.Arm(listener_->startup_hold);
}

void Connection::ConnectTo(const net::SocketAddress& address, const char* who) {
  connect_who_ = who;
  absl::StatusOr<net::UniqueFd> fd = net::StartConnect(address, listener_->socket_mark);
  if (!fd.ok()) {
    Close(absl::StrCat(who, "_connect_failed"));
    return;
  }
  phase_ = Phase::kConnecting;
  connecting_ = *std::move(fd);
  if (!timer_.armed()) timer_.Arm(listener_->connect_timeout);
  up_watch_ = std::make_unique<event::FdWatcher>(
      host_->loop(), connecting_.get(),
      [this](bool r, bool w) { OnFdEvent(net::Side::kUpstream, r, w); });
}

void Connection::OnConnectEvent() {
  const absl::Status result = net::ConnectResult(connecting_.get());
  if (!result.ok()) {
    Close(absl::StrCat(connect_who_, "_", result.message()));
    return;
  }
  timer_.Cancel();
  OnConnected(std::move(connecting_));
}

void Connection::BeginHandshake(net::UniqueFd fd, tls::Role role,
                                const std::function<void(SSL*)>& ssl_setup) {
  phase_ = Phase::kHandshaking;
  const bool server = role == tls::Role::kServer;
  bssl::UniquePtr<SSL> ssl =
      server ? snapshot_->tls->NewServerSsl() : snapshot_->tls->NewClientSsl();
  if (ssl == nullptr) {
    FailHandshake(kInternalErrorReason, "SSL_new failed");
    return;
  }
  if (ssl_setup) ssl_setup(ssl.get());
  if (server && listener_->min_tls_version != 0 &&
      !SSL_set_min_proto_version(ssl.get(), listener_->min_tls_version)) {
    FailHandshake("internal_error", "SSL_set_min_proto_version failed");
    return;
  }
  const int fd_number = fd.get();
  auto transport = std::make_unique<tls::TlsTransport>(std::move(fd), std::move(ssl));
  tls_ = transport.get();
  tls_side_ = server ? net::Side::kDownstream : net::Side::kUpstream;
  if (server) {
    downstream_ = std::move(transport);
    down_watch_ = std::make_unique<event::FdWatcher>(
        host_->loop(), fd_number,
        [this](bool r, bool w) { OnFdEvent(net::Side::kDownstream, r, w); });
  } else {
    upstream_ = std::move(transport);  // up_watch_ already watches this fd
  }

  tls::Handshaker::Options options;
  options.timeout = listener_->handshake_timeout;
  options.clock = [host = host_] { return host->Now(); };
  verify::PeerCheck& check = options.check;
  check.bundles = &snapshot_->bundles;
  check.bundle_generation = snapshot_->bundle_generation;
  check.cache = host_->verified_chains();  // null when tls.verified_chain_cache is off
  check.verify.clock_skew = host_->clock_skew();
  // The peer plays the other role, which its key usages must allow.
  check.verify.peer_role = server ? identity::PeerRole::kClient : identity::PeerRole::kServer;
  check.deny_list = snapshot_->deny_list.get();  // snapshot_ outlives the handshake
  check.policy = policy_;
  check.default_trust_domain = snapshot_->spiffe_id.trust_domain();
  check.authorizer = listener_->label;
  if (!server && policy_description_ != nullptr) check.expected = *policy_description_;
  if (server && listener_->gateway.has_value()) {
    gateway_trust_ = host_->GatewayTrust(*listener_);
    check.gateway_trust = gateway_trust_.get();
    check.gateway_policy = &listener_->gateway->policy;
    check.identity_from = listener_->gateway->identity_from;
    check.cache = nullptr;
  }
  handshaker_ = std::make_unique<tls::Handshaker>(
      host_->loop(), tls_, std::move(options),
      tls::Handshaker::Callbacks{
          [this](const tls::HandshakeResult& r) { OnHandshakeResult(r); },
          [this](bssl::UniquePtr<SSL_SESSION> s) { OnNewSession(std::move(s)); }});
  handshaker_->Start();
}

void Connection::OnHandshakeResult(const tls::HandshakeResult& result) {
  if (!result.ok) {
    if (result.peer.reason == identity::VerifyReason::kNotAuthorized ||
        result.peer.reason == identity::VerifyReason::kRevoked) {
      refused_peer_id_ = result.peer.PeerId();
    }
    FailHandshake(result.reason, result.detail);
    return;
  }
  // A deny-list that arrived during the handshake judges it now, before any
  // byte is forwarded.
  if (const auto& current = host_->snapshot();
      current != nullptr && current->deny_list != nullptr && result.peer.svid.has_value() &&
      current->deny_list->Contains(result.peer.svid->spiffe_id)) {
    refused_peer_id_ = result.peer.svid->spiffe_id.ToString();
    FailHandshake("revoked",
                  absl::StrCat(refused_peer_id_, " is revoked (control-plane deny-list version ",
                               current->deny_list->version(), ")"));
    return;
  }
  peer_ = result.peer.svid;  // the handshake, key proof included, is complete
  client_ = result.peer.client;
  handshake_ok_ = true;
  HandshakeOutcome outcome;
  outcome.ok = true;
  outcome.reason = "ok";
  outcome.peer_id = result.peer.PeerId();
  outcome.resumed = result.resumed;
  outcome.duration = result.duration;
  host_->observer()->OnHandshake(*listener_, outcome);
  // From here on the connection counts against max_connections, not as a
  // pending handshake (an outbound retry after a refused session is counted
  // once). Many handshakes may finish at once on several workers: the
  // counter, not the check at accept, keeps the limit.
  host_->HandshakeFinished(this);
  if (!counted_) {
    if (listener_->active->fetch_add(1, std::memory_order_relaxed) >= listener_->max_connections) {
      listener_->active->fetch_sub(1, std::memory_order_relaxed);
      Close("max_connections");
      return;
    }
    counted_ = true;
  }
  OnHandshakeDone(result.resumed);
}

void Connection::DropUpstream() {
  up_watch_.reset();
  handshaker_.reset();
  if (tls_side_ == net::Side::kUpstream) tls_ = nullptr;
  upstream_.reset();
}

void Connection::ReleaseHandshaker() { handshaker_.reset(); }

void Connection::FailHandshake(const std::string& reason, const std::string& detail) {
  HandshakeOutcome outcome;
  outcome.ok = false;
  outcome.reason = reason;
  outcome.detail = detail;
  outcome.peer_id = refused_peer_id_;
  host_->observer()->OnHandshake(*listener_, outcome);
  failure_detail_ = detail;
  handshake_failed_ = true;
  Close(reason);
}

void Connection::StartPump() {
  phase_ = Phase::kPumping;
  if (down_watch_ == nullptr) {
    down_watch_ = std::make_unique<event::FdWatcher>(
        host_->loop(), downstream_->fd(),
        [this](bool r, bool w) { OnFdEvent(net::Side::kDownstream, r, w); });
  }
  net::Pump::Options options;
  options.high_water_bytes = listener_->high_water_bytes;
  pump_ = std::make_unique<net::Pump>(
      host_->loop(), downstream_.get(), upstream_.get(), options,
      net::Pump::Callbacks{[this] {
                             pump_done_ = true;
                             Close(phase_ == Phase::kClosing ? closing_reason_ : "done");
                           },
                           [this](net::Side side, const std::string& reason) {
                             const std::string where = absl::StrCat(
                                 side == net::Side::kDownstream ? "downstream_" : "upstream_",
                                 reason);
                             if (phase_ == Phase::kClosing) {
                               // Still the close it was (policy_changed, drained...), now a reset.
                               failure_detail_ = where;
                               Close(closing_reason_);
                               return;
                             }
                             Close(where);
                           }});
  timer_.Arm(listener_->idle_timeout);
  pump_->Start();
  // A policy reloaded while this connection was being set up judges it now.
  if (phase_ == Phase::kPumping && !host_->PolicyAllows(*this)) {
    CloseGracefully("policy_changed", host_->close_grace());
  }
}

void Connection::OnFdEvent(net::Side side, bool readable, bool writable) {
  switch (phase_) {
    case Phase::kConnecting:
      if (side == net::Side::kUpstream && (writable || readable)) OnConnectEvent();
      return;
    case Phase::kHandshaking:
      if (side == tls_side_) handshaker_->OnReadiness();
      return;
    case Phase::kConfirming:
      if (side == net::Side::kUpstream) OnConfirmReadiness();
      return;
    case Phase::kPumping:
    case Phase::kClosing:
      if (pump_ != nullptr) pump_->OnReadiness(side, readable, writable);
      return;
    default:
      return;
  }
}

void Connection::OnTimer() {
  switch (phase_) {
    case Phase::kParked:
      Close("no_identity");
      return;
    case Phase::kResolving:
    case Phase::kConnecting:
      Close(absl::StrCat(connect_who_, "_connect_timeout"));
      return;
    case Phase::kPumping: {
      const absl::Duration quiet = host_->Now() - pump_->last_activity();
      if (quiet >= listener_->idle_timeout) {
        CloseGracefully("idle_timeout", host_->close_grace());
      } else {
        timer_.Arm(listener_->idle_timeout - quiet);
      }
      return;
    }
    case Phase::kClosing:
      Close(closing_reason_);
      return;
    case Phase::kConfirming:
      OnConfirmTimeout();
      return;
    default:
      return;
  }
}

void Connection::CloseGracefully(const std::string& reason, absl::Duration grace) {
  if (phase_ == Phase::kDone || phase_ == Phase::kClosing) return;
  if (phase_ != Phase::kPumping) {
    Close(reason);
    return;
  }
  phase_ = Phase::kClosing;
  closing_reason_ = reason;
  timer_.Arm(grace);
  pump_->FinishGracefully();  // may call Close() at once
}

void Connection::Close(const std::string& reason) {
  if (phase_ == Phase::kDone) return;
  if (phase_ == Phase::kParked) host_->Unpark(this);
  phase_ = Phase::kDone;
  timer_.Cancel();
  ConnectionSummary summary;
  summary.peer_address = peer_address_.ToString();
  if (peer_.has_value()) {
    summary.peer_id = peer_->spiffe_id.ToString();
    summary.peer_serial = peer_->leaf_serial;
  } else if (client_.has_value()) {
    summary.peer_id = client_->identity;
    summary.peer_serial = client_->leaf_serial;
  } else {
    summary.peer_id = refused_peer_id_;
  }
  if (pump_ != nullptr && !pump_done_) {
    // Bytes may have been lost (an error, or the grace period ran out): the
    // peers must see a reset, never an end that looks clean.
    downstream_->ResetOnClose();
    upstream_->ResetOnClose();
    summary.reset = true;
  }
  summary.handshake_ok = handshake_ok_;
  summary.handshake_failed = handshake_failed_;
  summary.close_reason = reason;
  summary.detail = failure_detail_;
  if (pump_ != nullptr) {
    summary.bytes_from_downstream = pump_->bytes_from_downstream();
    summary.bytes_from_upstream = pump_->bytes_from_upstream();
  }
  summary.duration = host_->Now() - accepted_at_;
  if (counted_) listener_->active->fetch_sub(1, std::memory_order_relaxed);
  host_->observer()->OnClosed(*listener_, summary);
  host_->Release(this);
}

}  // namespace palisade::forward
