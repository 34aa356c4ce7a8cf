#include "runtime/tls/handshaker.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "identity/certificate.h"
#include "identity/verify_reason.h"
#include "runtime/net/sockets.h"
#include "runtime/tls/tls_error.h"
#include "runtime/verify/peer_chain.h"

namespace palisade::tls {

std::vector<std::string> KnownHandshakeFailureReasons() {
  std::vector<std::string> known;
  auto add = [&known](absl::string_view reason) {
    if (std::find(known.begin(), known.end(), reason) == known.end()) known.emplace_back(reason);
  };
  for (identity::VerifyReason r : identity::kAllVerifyReasons) {
    if (r != identity::VerifyReason::kOk) add(identity::ReasonCode(r));
  }
  add(kHandshakeTimeoutReason);
  add(kPeerClosedReason);
  for (const std::string& r : net::KnownSocketErrorReasons()) add(r);
  for (const std::string& r : KnownSslErrorReasons()) add(r);
  return known;
}

Handshaker::Handshaker(event::EventLoop* loop, TlsTransport* transport, Options options,
                       Callbacks callbacks)
    : transport_(transport),
      options_(std::move(options)),
      callbacks_(std::move(callbacks)),
      deadline_(loop, [this] {
        Fail(kHandshakeTimeoutReason, "the TLS handshake did not finish in time");
      }) {
  AttachHooks(transport_->ssl(), this);
}

Handshaker::~Handshaker() { Detach(); }

void Handshaker::Detach() {
  if (transport_ == nullptr) return;
  AttachHooks(transport_->ssl(), nullptr);
  transport_ = nullptr;
}

void Handshaker::Start() {
  started_ = options_.clock();
  deadline_.Arm(options_.timeout);
  Continue();
}

void Handshaker::OnReadiness() {
  if (!done_ && transport_ != nullptr) Continue();
}

void Handshaker::Continue() {
  const net::IoResult r = transport_->Handshake();
  if (r.status == net::IoStatus::kWouldBlock) return;
  if (r.status == net::IoStatus::kOk) {
    Succeed();
    return;
  }
  if (judged_ && !verdict_.ok()) {
    Fail(std::string(identity::ReasonCode(verdict_.reason)), verdict_.detail);
  } else {
    Fail(transport_->error(), transport_->error_detail());
  }
}

verify::PeerVerdict Handshaker::Judge(const SSL* ssl) {
  const bssl::UniquePtr<STACK_OF(X509)> chain = verify::PeerChainOf(ssl);
  return Judge(ssl, chain.get());
}

verify::PeerVerdict Handshaker::Judge(const SSL* ssl, STACK_OF(X509) * chain) {
  options_.check.verify.now = options_.clock();
  return verify::VerifyPeer(ssl, chain, options_.check);
}

ssl_verify_result_t Handshaker::VerifyPeer(SSL* ssl, uint8_t* out_alert) {
  // Parsed once for both the claimed identity and the verdict.
  const bssl::UniquePtr<STACK_OF(X509)> chain = verify::PeerChainOf(ssl);
  if (chain != nullptr && sk_X509_num(chain.get()) > 0) {
    absl::StatusOr<identity::SpiffeId> id = identity::SpiffeIdOf(sk_X509_value(chain.get(), 0));
    if (id.ok()) claimed_spiffe_id_ = id->ToString();
  }
  verdict_ = Judge(ssl, chain.get());
  judged_ = true;
  // Not final yet: the peer has still to prove it holds the leaf's key
  // (CertificateVerify), which BoringSSL checks after this callback.
  return verify::ToVerifyResult(verdict_, out_alert);
}

void Handshaker::Succeed() {
  SSL* ssl = transport_->ssl();
  const bool resumed = SSL_session_reused(ssl);
  if (resumed || !judged_) {
    // A resumed session skipped verification: judge the peer it recorded
    // against today's bundle, clock and policy. Without a certificate the
    // callback never ran: judge its absence.
    verdict_ = Judge(ssl);
    judged_ = true;
    if (!verdict_.ok()) {
      Fail(std::string(identity::ReasonCode(verdict_.reason)),
           resumed ? absl::StrCat("resumed session: ", verdict_.detail) : verdict_.detail);
      return;
    }
  }
  if (SSL_is_server(ssl)) {
    // BoringSSL holds TLS 1.3 tickets until the server's first write; the
    // app may never write (or the peer may half-close first), so flush them
    // now for the peer's next connection to resume. After a resumption the
    // ticket also tells the client that its session was accepted.
    SSL_write(ssl, "", 0);
  }
  done_ = true;
  deadline_.Cancel();
  HandshakeResult result;
  result.ok = true;
  result.reason = "ok";
  result.peer = verdict_;
  result.claimed_spiffe_id = claimed_spiffe_id_;
  result.resumed = resumed;
  result.duration = options_.clock() - started_;
  callbacks_.on_done(result);
}

void Handshaker::Fail(std::string reason, std::string detail) {
  if (done_) return;
  done_ = true;
  deadline_.Cancel();
  HandshakeResult result;
  result.reason = std::move(reason);
  result.detail = std::move(detail);
  result.peer = verdict_;
  result.claimed_spiffe_id = claimed_spiffe_id_;
  result.duration = options_.clock() - started_;
  callbacks_.on_done(result);
}

void Handshaker::OnNewClientSession(bssl::UniquePtr<SSL_SESSION> session) {
  if (callbacks_.on_new_session) callbacks_.on_new_session(std::move(session));
}

}  // namespace palisade::tls
