#include "proxy/identity_client/testing/fake_identity_service.h"

#include <openssl/mem.h>

#include <deque>
#include <utility>

#include "absl/time/clock.h"
#include "identity/certificate.h"
#include "identity/csr.h"
#include "identity/signer.h"

namespace palisade::identity_client::testing {

// One stream. Reads are sequential (one outstanding at a time), so the
// stream's own fields need no lock; the outbox and the finishing state do,
// because pushes and EndStreams come from other threads. gRPC operations are
// started under the lock so none starts after Finish; gRPC never runs our
// reactions inline from them.
class FakeIdentityService::Reactor
    : public grpc::ServerBidiReactor<control::v1::WatchRequest, control::v1::WatchResponse> {
 public:
  Reactor(FakeIdentityService* service, std::string peer)
      : service_(service), peer_(std::move(peer)) {
    sync::MutexLock lock(&mutex_);
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      End(grpc::Status::OK);  // the client closed or cancelled
      return;
    }
    service_->OnRequest(this, request_);
    sync::MutexLock lock(&mutex_);
    if (!finishing_) StartRead(&request_);
  }

  void Send(control::v1::WatchResponse response) {
    sync::MutexLock lock(&mutex_);
    if (finishing_) return;
    outbox_.push_back(std::move(response));
    if (!writing_) {
      writing_ = true;
      StartWrite(&outbox_.front());
    }
  }

  void OnWriteDone(bool ok) override {
    sync::MutexLock lock(&mutex_);
    outbox_.pop_front();
    if (!ok) outbox_.clear();
    if (!outbox_.empty()) {
      StartWrite(&outbox_.front());
      return;
    }
    writing_ = false;
    if (pending_finish_.has_value()) Finish(*pending_finish_);
  }

  // Finishes once what is queued has been written.
  void End(const grpc::Status& status) {
    sync::MutexLock lock(&mutex_);
    if (finishing_) return;
    finishing_ = true;
    if (writing_) {
      pending_finish_ = status;
    } else {
      Finish(status);
    }
  }

  void OnDone() override {
    service_->Unregister(this);
    delete this;
  }

  const std::string& peer() const { return peer_; }

  // Set by the first Hello; read-side only.
  bool greeted = false;
  bool bootstrap = false;
  bool join_token = false;  // authenticated by a join token
  std::string identity;

 private:
  FakeIdentityService* const service_;
  const std::string peer_;
  control::v1::WatchRequest request_;
  sync::Mutex mutex_;
  std::deque<control::v1::WatchResponse> outbox_ ABSL_GUARDED_BY(mutex_);
  bool writing_ ABSL_GUARDED_BY(mutex_) = false;
  bool finishing_ ABSL_GUARDED_BY(mutex_) = false;
  std::optional<grpc::Status> pending_finish_ ABSL_GUARDED_BY(mutex_);
};

FakeIdentityService::FakeIdentityService(Issuer issuer, control::v1::TrustBundleUpdate bundle)
    : issuer_(std::move(issuer)), bundle_(std::move(bundle)) {}

void FakeIdentityService::set_front(const TestTlsServer* front) {
  sync::MutexLock lock(&mutex_);
  front_ = front;
}

void FakeIdentityService::AcceptJoinToken(const std::string& token, const std::string& spiffe_id) {
  sync::MutexLock lock(&mutex_);
  join_tokens_[token] = spiffe_id;
}

void FakeIdentityService::AcceptServiceAccountToken(const std::string& token,
                                                    const std::string& spiffe_id) {
  sync::MutexLock lock(&mutex_);
  sa_tokens_[token] = spiffe_id;
}

void FakeIdentityService::IssueReattestationToken(const std::string& token) {
  sync::MutexLock lock(&mutex_);
  reattestation_to_issue_ = token;
}

void FakeIdentityService::RevokeReattestationTokens() {
  sync::MutexLock lock(&mutex_);
  reattestation_tokens_.clear();
}

void FakeIdentityService::SetIssuer(Issuer issuer) {
  sync::MutexLock lock(&mutex_);
  issuer_ = std::move(issuer);
}

void FakeIdentityService::SetTtl(absl::Duration ttl) {
  sync::MutexLock lock(&mutex_);
  ttl_ = ttl;
}

void FakeIdentityService::SetRenewAfter(std::optional<absl::Duration> after) {
  sync::MutexLock lock(&mutex_);
  renew_after_ = after;
}

void FakeIdentityService::PushBundle(control::v1::TrustBundleUpdate bundle) {
  sync::MutexLock lock(&mutex_);
  bundle_ = bundle;
  control::v1::WatchResponse response;
  *response.mutable_bundle() = std::move(bundle);
  for (Reactor* reactor : live_) reactor->Send(response);
}

void FakeIdentityService::PushRekey(const std::string& reason) {
  sync::MutexLock lock(&mutex_);
  control::v1::WatchResponse response;
  response.mutable_rekey()->set_reason(reason);
  for (Reactor* reactor : live_) reactor->Send(response);
}

void FakeIdentityService::RefuseCsrs(int count, const grpc::Status& status) {
  sync::MutexLock lock(&mutex_);
  csrs_to_refuse_ = count;
  csr_refusal_ = status;
}

void FakeIdentityService::EndStreams(const grpc::Status& status) {
  sync::MutexLock lock(&mutex_);
  for (Reactor* reactor : live_) reactor->End(status);
}

FakeIdentityService::Log FakeIdentityService::log() const {
  sync::MutexLock lock(&mutex_);
  return log_;
}

bool FakeIdentityService::WaitFor(const std::function<bool(const Log&)>& condition,
                                  absl::Duration timeout) const {
  sync::MutexLock lock(&mutex_);
  return mutex_.AwaitWithTimeout([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return condition(log_); },
                                 timeout);
}

grpc::ServerBidiReactor<control::v1::WatchRequest, control::v1::WatchResponse>*
FakeIdentityService::Watch(grpc::CallbackServerContext* context) {
  auto* reactor = new Reactor(this, context->peer());
  sync::MutexLock lock(&mutex_);
  live_.insert(reactor);
  ++log_.live_streams;
  mutex_.NotifyAll();
  return reactor;
}

void FakeIdentityService::Unregister(Reactor* reactor) {
  sync::MutexLock lock(&mutex_);
  live_.erase(reactor);
  --log_.live_streams;
  mutex_.NotifyAll();
}

void FakeIdentityService::OnRequest(Reactor* reactor, const control::v1::WatchRequest& request) {
  switch (request.kind_case()) {
    case control::v1::WatchRequest::kHello:
      return OnHello(reactor, request.hello());
    case control::v1::WatchRequest::kCsr:
      return OnCsr(reactor, request.csr());
    case control::v1::WatchRequest::kBundleAck: {
      sync::MutexLock lock(&mutex_);
      log_.acks.push_back(request.bundle_ack().version());
      log_.order.push_back("ack");
      mutex_.NotifyAll();
      return;
    }
    case control::v1::WatchRequest::kConnectionReport: {
      sync::MutexLock lock(&mutex_);
      log_.reports.push_back(request.connection_report());
      log_.order.push_back("report");
      mutex_.NotifyAll();
      return;
    }
    case control::v1::WatchRequest::KIND_NOT_SET:
      return reactor->End(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "empty request"));
  }
}

void FakeIdentityService::OnHello(Reactor* reactor, const control::v1::Hello& hello) {
  // Answered under the lock, so a PushBundle cannot overtake the answer.
  sync::MutexLock lock(&mutex_);
  {
    const std::optional<std::string> peer =
        front_ != nullptr ? front_->ClientIdOfGrpcPeer(reactor->peer()) : std::nullopt;
    if (!peer.has_value()) {
      return reactor->End(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "unknown peer"));
    }
    log_.hellos.push_back(Hello{*peer, hello});
    log_.order.push_back("hello");
    mutex_.NotifyAll();
    if (!peer->empty()) {
      reactor->identity = *peer;
    } else if (auto it = join_tokens_.find(hello.join_token());
               hello.has_join_token() && it != join_tokens_.end()) {
      reactor->identity = it->second;
      reactor->bootstrap = true;
      reactor->join_token = true;
    } else if (auto rt = reattestation_tokens_.find(hello.reattestation_token());
               hello.has_reattestation_token() && rt != reattestation_tokens_.end()) {
      reactor->identity = rt->second;
      reactor->bootstrap = true;
    } else if (hello.has_reattestation_token()) {
      return reactor->End(grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                       "re-attestation token: rt-fake was revoked"));
    } else if (auto sa = sa_tokens_.find(hello.service_account_token());
               hello.has_service_account_token() && sa != sa_tokens_.end()) {
      reactor->identity = sa->second;
      reactor->bootstrap = true;
    } else {
      return reactor->End(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no credential"));
    }
    reactor->greeted = true;
  }
  control::v1::WatchResponse response;
  *response.mutable_bundle() = bundle_;
  reactor->Send(std::move(response));
}

void FakeIdentityService::OnCsr(Reactor* reactor,
                                const control::v1::CertificateSigningRequest& request) {
  if (!reactor->greeted) {
    return reactor->End(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "Hello first"));
  }
  absl::StatusOr<identity::CheckedCsr> csr = identity::ParseAndCheckCsr(request.csr_der());
  if (!csr.ok()) {
    return reactor->End(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(csr.status().message())));
  }
  control::v1::WatchResponse response;
  {
    sync::MutexLock lock(&mutex_);
    Csr record;
    record.stream_id = reactor->identity;
    record.bootstrap = reactor->bootstrap;
    record.spiffe_id = csr->spiffe_id.ToString();
    uint8_t* der = nullptr;
    const int len = i2d_PUBKEY(csr->public_key.get(), &der);
    if (len > 0) record.public_key_der.assign(reinterpret_cast<char*>(der), len);
    OPENSSL_free(der);
    record.request_id = request.request_id();
    record.received_at = absl::Now();
    log_.csrs.push_back(record);
    log_.order.push_back("csr");
    mutex_.NotifyAll();
    if (record.spiffe_id != reactor->identity) {
      return reactor->End(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "wrong_identity"));
    }
    if (csrs_to_refuse_ > 0) {
      --csrs_to_refuse_;
      return reactor->End(csr_refusal_);
    }
    identity::LeafOptions options;
    options.now = absl::Now();
    options.ttl = ttl_;
    absl::StatusOr<bssl::UniquePtr<X509>> leaf =
        identity::IssueSvid(*csr, identity::Issuer{issuer_.certificate, issuer_.key}, options);
    if (!leaf.ok()) {
      return reactor->End(
          grpc::Status(grpc::StatusCode::INTERNAL, std::string(leaf.status().message())));
    }
    log_.issued_serials.push_back(identity::SerialHex(leaf->get()));
    control::v1::SvidUpdate* svid = response.mutable_svid();
    svid->set_request_id(request.request_id());
    svid->add_certificate_chain_der(identity::CertificateToDer(leaf->get()));
    for (X509* cert : issuer_.chain_after_leaf) {
      svid->add_certificate_chain_der(identity::CertificateToDer(cert));
    }
    if (renew_after_.has_value()) {
      const absl::Time at = options.now + *renew_after_;
      svid->mutable_renew_after()->set_seconds(absl::ToUnixSeconds(at));
      svid->mutable_renew_after()->set_nanos(static_cast<int32_t>(
          (at - absl::FromUnixSeconds(absl::ToUnixSeconds(at))) / absl::Nanoseconds(1)));
      log_.renew_after.push_back(at);
    }
    *svid->mutable_bundle() = bundle_;
    if (reactor->join_token && !reattestation_to_issue_.empty()) {
      svid->set_reattestation_token(reattestation_to_issue_);
      reattestation_tokens_[reattestation_to_issue_] = reactor->identity;
    }
    reactor->Send(std::move(response));
  }
  // A bootstrap stream gets exactly one SVID; the proxy comes back with it.
  if (reactor->bootstrap) reactor->End(grpc::Status::OK);
}

}  // namespace palisade::identity_client::testing
