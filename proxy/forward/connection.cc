#include "proxy/forward/connection.h"

#include <arpa/inet.h>
#include <openssl/x509.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "identity/certificate.h"
#include "identity/verify_reason.h"
#include "runtime/net/plain_transport.h"
#include "runtime/net/socket_address.h"
#include "runtime/net/sockets.h"
#include "runtime/tls/verify_alert.h"

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
  // The pump refers to the transports and the watchers to the fds.
  pump_.reset();
  down_watch_.reset();
  up_watch_.reset();
}

bool Connection::TakeUsableSnapshot() {
  snapshot_ = host_->snapshot();
  if (snapshot_ == nullptr) {
    FailHandshake("no_identity", "this proxy has no SVID yet");
    return false;
  }
  if (snapshot_->not_after <= host_->Now()) {
    // Fail closed: an expired SVID is no identity at all.
    FailHandshake("identity_expired",
                  absl::StrCat("this proxy's SVID (serial ", snapshot_->serial, ") has expired"));
    return false;
  }
  return true;
}

void Connection::Start() {
  listener_->active.fetch_add(1, std::memory_order_relaxed);
  host_->observer()->OnAccepted(*listener_);
  if (listener_->policy.has_value()) {
    policy_ = &*listener_->policy;
    policy_description_ = &listener_->policy_description;
  }
  if (reloaded_policy_ = host_->ReloadedPolicy(*listener_); reloaded_policy_ != nullptr) {
    policy_ = reloaded_policy_->policy.has_value() ? &*reloaded_policy_->policy : nullptr;
    policy_description_ = &reloaded_policy_->description;
  }
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
  if (listener_->direction == Direction::kInbound) {
    if (!TakeUsableSnapshot()) return;
    BeginHandshake(std::move(accepted_), /*as_server=*/true);
    return;
  }
  if (host_->snapshot() == nullptr) {
    phase_ = Phase::kParked;
    host_->Park(this);
    timer_.Arm(listener_->startup_hold);
    return;
  }
  OnIdentityAvailable();
}

void Connection::OnIdentityAvailable() {
  if (phase_ == Phase::kParked) {
    host_->Unpark(this);
    timer_.Cancel();
  }
  downstream_ = std::make_unique<net::PlainTransport>(std::move(accepted_));
  timer_.Arm(listener_->connect_timeout);
  if (listener_->original_destination) {
    ConnectTo(original_destination_);
    return;
  }
  if (listener_->upstream_address.has_value()) {
    ConnectTo(*listener_->upstream_address);
    return;
  }
  phase_ = Phase::kResolving;
  resolving_ = host_->Resolve(listener_->upstream, [this](absl::StatusOr<net::SocketAddress> a) {
    resolving_.reset();
    if (!a.ok()) {
      Close("upstream_unresolved");
      return;
    }
    ConnectTo(*a);
  });
}

void Connection::ConnectTo(const net::SocketAddress& address) {
  absl::StatusOr<net::UniqueFd> fd = net::StartConnect(address, listener_->socket_mark);
  if (!fd.ok()) {
    Close(listener_->direction == Direction::kInbound ? "app_connect_failed"
                                                      : "upstream_connect_failed");
    return;
  }
  phase_ = Phase::kConnecting;
  connecting_ = *std::move(fd);
  if (listener_->direction == Direction::kInbound) timer_.Arm(listener_->connect_timeout);
  up_watch_ = std::make_unique<event::FdWatcher>(
      host_->loop(), connecting_.get(),
      [this](bool r, bool w) { OnFdEvent(net::Side::kUpstream, r, w); });
}

void Connection::OnConnectEvent() {
  const absl::Status result = net::ConnectResult(connecting_.get());
  if (!result.ok()) {
    const std::string who = listener_->direction == Direction::kInbound ? "app_" : "upstream_";
    Close(who + std::string(result.message()));
    return;
  }
  if (listener_->direction == Direction::kInbound) {
    upstream_ = std::make_unique<net::PlainTransport>(std::move(connecting_));
    StartPump();
    return;
  }
  if (!TakeUsableSnapshot()) return;
  BeginHandshake(std::move(connecting_), /*as_server=*/false);
}

void Connection::BeginHandshake(net::UniqueFd fd, bool as_server) {
  phase_ = Phase::kHandshaking;
  handshake_started_ = host_->Now();
  timer_.Arm(listener_->handshake_timeout);
  bssl::UniquePtr<SSL> ssl =
      as_server ? snapshot_->tls->NewServerSsl() : snapshot_->tls->NewClientSsl();
  if (ssl == nullptr) {
    FailHandshake("internal_error", "SSL_new failed");
    return;
  }
  tls::AttachHooks(ssl.get(), this);
  if (!as_server) {
    const std::string& host = listener_->upstream.host;
    if (!listener_->original_destination && !net::IsIpLiteral(host)) {
      SSL_set_tlsext_host_name(ssl.get(), host.c_str());
    }
    if (host_->resumption_enabled()) {
      session_key_ = listener_->original_destination
                         ? absl::StrCat(listener_->name, "|", original_destination_.ToString())
                         : listener_->session_key;
      if (bssl::UniquePtr<SSL_SESSION> session = host_->TakeSession(session_key_)) {
        SSL_set_session(ssl.get(), session.get());
      }
    }
  }
  const int fd_number = fd.get();
  auto transport = std::make_unique<tls::TlsTransport>(std::move(fd), std::move(ssl));
  tls_ = transport.get();
  if (as_server) {
    downstream_ = std::move(transport);
    down_watch_ = std::make_unique<event::FdWatcher>(
        host_->loop(), fd_number,
        [this](bool r, bool w) { OnFdEvent(net::Side::kDownstream, r, w); });
  } else {
    upstream_ = std::move(transport);  // up_watch_ already watches this fd
  }
  ContinueHandshake();
}

void Connection::ContinueHandshake() {
  const net::IoResult r = tls_->Handshake();
  if (r.status == net::IoStatus::kWouldBlock) return;
  if (r.status == net::IoStatus::kOk) {
    OnHandshakeDone();
    return;
  }
  if (!verification_.ok()) {
    FailHandshake(std::string(identity::ReasonCode(verification_.reason)), verification_.detail);
  } else {
    FailHandshake(tls_->error(), tls_->error_detail());
  }
}

void Connection::OnHandshakeDone() {
  const bool resumed = SSL_session_reused(tls_->ssl());
  if (resumed) {
    // A resumed session skipped verification: check the peer it recorded
    // against today's bundle, clock and policy.
    verification_ = CheckPeerChain(tls_->ssl());
    if (!verification_.ok()) {
      FailHandshake(std::string(identity::ReasonCode(verification_.reason)),
                    absl::StrCat("resumed session: ", verification_.detail));
      return;
    }
  }
  peer_ = verification_.svid;  // the handshake, key proof included, is complete
  if (!peer_.has_value()) {
    FailHandshake("internal_error", "handshake finished without a verified peer");
    return;
  }
  if (listener_->direction == Direction::kInbound && !resumed) {
    // BoringSSL holds TLS 1.3 tickets until the server's first write; the
    // app may never write (or the peer may half-close first), so flush them
    // now for the peer's next connection to resume.
    SSL_write(tls_->ssl(), "", 0);
  }
  handshake_ok_ = true;
  HandshakeOutcome outcome;
  outcome.ok = true;
  outcome.reason = "ok";
  outcome.peer_id = peer_->spiffe_id.ToString();
  outcome.resumed = resumed;
  outcome.duration = host_->Now() - handshake_started_;
  host_->observer()->OnHandshake(*listener_, outcome);

  if (listener_->direction == Direction::kInbound) {
    ConnectTo(listener_->original_destination
                  ? listener_->forward_to.WithPort(original_destination_.port())
                  : listener_->forward_to);
  } else {
    StartPump();
  }
}

void Connection::FailHandshake(const std::string& reason, const std::string& detail) {
  HandshakeOutcome outcome;
  outcome.ok = false;
  outcome.reason = reason;
  outcome.detail = detail;
  if (verification_.reason == identity::VerifyReason::kNotAuthorized && verification_.svid) {
    outcome.peer_id = verification_.svid->spiffe_id.ToString();
  }
  outcome.duration = host_->Now() - handshake_started_;
  host_->observer()->OnHandshake(*listener_, outcome);
  failure_detail_ = detail;
  handshake_failed_ = true;
  Close(reason);
}

ssl_verify_result_t Connection::VerifyPeer(SSL* ssl, uint8_t* out_alert) {
  verification_ = CheckPeerChain(ssl);
  if (!verification_.ok()) {
    *out_alert = tls::AlertFor(verification_.reason);
    return ssl_verify_invalid;
  }
  // Not yet `peer_`: the peer has still to prove it holds the leaf's key
  // (CertificateVerify), which BoringSSL checks after this callback.
  return ssl_verify_ok;
}

identity::SvidVerification Connection::CheckPeerChain(SSL* ssl) {
  identity::SvidVerification result;
  STACK_OF(X509)* stack = SSL_get_peer_full_cert_chain(ssl);
  if (stack == nullptr || sk_X509_num(stack) == 0) {
    result.reason = identity::VerifyReason::kNoCertificate;
    result.detail = "the peer presented no certificate";
    return result;
  }
  const identity::PeerRole role = listener_->direction == Direction::kInbound
                                      ? identity::PeerRole::kClient
                                      : identity::PeerRole::kServer;
  const absl::Time now = host_->Now();
  const absl::Duration skew = host_->clock_skew();
  const std::optional<tls::VerifiedChainCache::Key> key = tls::VerifiedChainCache::KeyFor(ssl, role);
  const tls::VerifiedChainCache::Entry* cached =
      key.has_value() ? host_->verified_chains().Find(*key, snapshot_->bundle_generation) : nullptr;
  if (cached != nullptr && now + skew >= cached->valid_from &&
      now - skew <= cached->svid.chain_not_after) {
    result.svid = cached->svid;
  } else {
    // Not seen, or its validity window no longer holds: the full check
    // (which also names why it fails).
    std::vector<X509*> chain;
    absl::Time valid_from = absl::InfinitePast();
    for (size_t i = 0; i < sk_X509_num(stack); ++i) {
      chain.push_back(sk_X509_value(stack, i));
      valid_from = std::max(valid_from, identity::NotBefore(chain.back()));
    }
    identity::VerifyOptions options;
    options.now = now;
    options.clock_skew = skew;
    options.peer_role = role;
    result = identity::VerifySvidChain(chain, snapshot_->bundles, options);
    if (!result.ok()) return result;
    if (key.has_value()) {
      host_->verified_chains().Insert(
          *key, tls::VerifiedChainCache::Entry{*result.svid, valid_from, snapshot_->bundle_generation});
    }
  }
  const identity::SpiffeId& id = result.svid->spiffe_id;
  const bool allowed = PolicyAllows(policy_, id, snapshot_->spiffe_id);
  if (!allowed) {
    result.reason = identity::VerifyReason::kNotAuthorized;
    result.detail =
        listener_->direction == Direction::kInbound
            ? absl::StrCat(id.ToString(), " is not allowed by listener ", listener_->name)
            : absl::StrCat("upstream presented ", id.ToString(), ", expected ",
                           policy_description_ != nullptr ? *policy_description_ : "");
  }
  return result;
}

void Connection::OnNewClientSession(bssl::UniquePtr<SSL_SESSION> session) {
  if (!session_key_.empty() && peer_.has_value()) {
    host_->StoreSession(session_key_, std::move(session), peer_->chain_not_after);
  }
}

void Connection::StartPump() {
  phase_ = Phase::kPumping;
  if (listener_->direction == Direction::kOutbound) {
    down_watch_ = std::make_unique<event::FdWatcher>(
        host_->loop(), downstream_->fd(),
        [this](bool r, bool w) { OnFdEvent(net::Side::kDownstream, r, w); });
  }
  net::Pump::Options options;
  options.high_water_bytes = listener_->high_water_bytes;
  pump_ = std::make_unique<net::Pump>(
      host_->loop(), downstream_.get(), upstream_.get(), options,
      net::Pump::Callbacks{
          [this] { Close(phase_ == Phase::kClosing ? closing_reason_ : "done"); },
          [this](net::Side side, const std::string& reason) {
            Close(
                absl::StrCat(side == net::Side::kDownstream ? "downstream_" : "upstream_", reason));
          }});
  timer_.Arm(listener_->idle_timeout);
  pump_->Start();
}

void Connection::OnFdEvent(net::Side side, bool readable, bool writable) {
  switch (phase_) {
    case Phase::kConnecting:
      if (side == net::Side::kUpstream && (writable || readable)) OnConnectEvent();
      return;
    case Phase::kHandshaking:
      if ((side == net::Side::kDownstream) == (listener_->direction == Direction::kInbound)) {
        ContinueHandshake();
      }
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
      Close(listener_->direction == Direction::kInbound ? "app_connect_timeout"
                                                        : "upstream_connect_timeout");
      return;
    case Phase::kHandshaking:
      FailHandshake("timeout", "the TLS handshake did not finish in time");
      return;
    case Phase::kPumping: {
      const absl::Duration quiet = host_->Now() - pump_->last_activity();
      if (quiet >= listener_->idle_timeout) {
        Close("idle_timeout");
      } else {
        timer_.Arm(listener_->idle_timeout - quiet);
      }
      return;
    }
    case Phase::kClosing:
      Close(closing_reason_);
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
  resolving_.reset();
  ConnectionSummary summary;
  summary.peer_address = peer_address_.ToString();
  if (peer_.has_value()) {
    summary.peer_id = peer_->spiffe_id.ToString();
    summary.peer_serial = peer_->leaf_serial;
  } else if (verification_.reason == identity::VerifyReason::kNotAuthorized && verification_.svid) {
    summary.peer_id = verification_.svid->spiffe_id.ToString();
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
  listener_->active.fetch_sub(1, std::memory_order_relaxed);
  host_->observer()->OnClosed(*listener_, summary);
  host_->Release(this);
}

}  // namespace palisade::forward
