#include "control/service/identity_service.h"

#include <google/protobuf/timestamp.pb.h>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "control/auth/refusal.h"
#include "identity/certificate.h"
#include "identity/csr.h"
#include "identity/signer.h"
#include "runtime/log/logging.h"

namespace palisade::control::service {
namespace {

constexpr size_t kMaxInstanceName = 253;
constexpr size_t kMaxReportedRoots = 32;

// Printable ASCII only: instance names end up in logs, JSON and metrics.
bool PrintableName(absl::string_view name) {
  for (char c : name) {
    if (!absl::ascii_isprint(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t nanos = absl::ToUnixNanos(t);
  out->set_seconds(nanos / 1'000'000'000);
  out->set_nanos(static_cast<int32_t>(nanos % 1'000'000'000));
}

// What an operator calls the token with this id.
absl::string_view TokenNoun(absl::string_view token_id) {
  return absl::StartsWith(token_id, "rt-") ? "re-attestation token" : "join token";
}

std::string ProxyName(const StreamInfo& info) {
  std::string name = info.spiffe_id.has_value() ? info.spiffe_id->ToString() : "?";
  if (!info.instance.empty()) absl::StrAppend(&name, " (", info.instance, ")");
  return name;
}

IssuanceLimits LimitsFor(const IdentityServiceOptions& options) {
  IssuanceLimits limits = options.limits;
  limits.svid_ttl = options.svid_ttl;
  return limits;
}

}  // namespace

IdentityService::IdentityService(IdentityServiceOptions options, IdentityServiceDeps deps)
    : options_(std::move(options)), deps_(deps), limiter_(LimitsFor(options_)) {}

IdentityService::~IdentityService() = default;

grpc::ServerBidiReactor<v1::WatchRequest, v1::WatchResponse>* IdentityService::Watch(
    grpc::CallbackServerContext* context) {
  uint64_t id;
  {
    sync::MutexLock lock(&mu_);
    id = next_id_++;
  }
  return WatchStream::Start(context, this, id, options_.clock());
}

absl::Status IdentityService::OnStreamStart(const std::shared_ptr<WatchStream>& stream) {
  std::optional<PeerIdentity> peer = deps_.peers->Lookup(stream->grpc_peer());
  if (!peer.has_value()) {
    StreamInfo info = stream->info();
    return Refuse(info, "",
                  auth::Refusal(absl::StatusCode::kPermissionDenied, "unauthenticated_transport",
                                "this connection did not come through the identity port"));
  }
  stream->Update([&peer](StreamInfo& info) { info.peer = peer; });
  {
    sync::MutexLock lock(&mu_);
    streams_[stream->id()] = stream;
  }
  UpdateStreamGauge();
  return absl::OkStatus();
}

void IdentityService::OnStreamDone(const std::shared_ptr<WatchStream>& stream) {
  {
    sync::MutexLock lock(&mu_);
    streams_.erase(stream->id());
  }
  UpdateStreamGauge();
}

void IdentityService::UpdateStreamGauge() {
  if (deps_.metrics != nullptr) deps_.metrics->SetStreams(static_cast<int64_t>(stream_count()));
}

absl::Status IdentityService::Refuse(const StreamInfo& info, const std::string& claimed_id,
                                     const absl::Status& refusal) {
  AuditEvent event;
  event.time = options_.clock();
  event.event = "refused";
  event.spiffe_id = !claimed_id.empty()          ? claimed_id
                    : info.spiffe_id.has_value() ? info.spiffe_id->ToString()
                    : (info.peer.has_value() && info.peer->spiffe_id.has_value())
                        ? info.peer->spiffe_id->ToString()
                        : "";
  event.instance = info.instance;
  event.result = absl::StatusCodeToString(refusal.code());
  event.reason = auth::RefusalReason(refusal);
  event.detail = std::string(refusal.message());
  event.peer = info.credential;
  if (deps_.metrics != nullptr) deps_.metrics->OnRefused(event.reason);
  // A flood of these must not flood the audit log: one line per identity
  // per interval, the next one saying how many went unwritten.
  if ((event.reason == kRateLimitedReason || event.reason == kUnexpiredCapReason) &&
      !event.spiffe_id.empty()) {
    const IssuanceLimiter::AuditTurn turn =
        limiter_.OnRefusal(event.spiffe_id, event.reason, event.time);
    if (!turn.record) return refusal;
    event.suppressed = turn.suppressed;
  }
  deps_.audit->Record(event);
  return refusal;
}

void IdentityService::SweepLimits() {
  const absl::Time now = options_.clock();
  for (const IssuanceLimiter::Suppressed& s : limiter_.Sweep(now)) {
    AuditEvent event;
    event.time = now;
    event.event = "refused";
    event.spiffe_id = s.spiffe_id;
    event.result = absl::StatusCodeToString(absl::StatusCode::kResourceExhausted);
    event.reason = s.reason;
    event.detail = absl::StrCat(s.count, " further refusals of this identity were not written");
    event.suppressed = s.count;
    event.summary = true;
    deps_.audit->Record(event);
  }
}

absl::Status IdentityService::OnMessage(const std::shared_ptr<WatchStream>& stream,
                                        const v1::WatchRequest& request) {
  if (request.ByteSizeLong() > options_.max_message_bytes) {
    return Refuse(
        stream->info(), "",
        auth::Refusal(absl::StatusCode::kResourceExhausted, "message_too_large",
                      absl::StrCat("message of ", request.ByteSizeLong(),
                                   " bytes exceeds the limit of ", options_.max_message_bytes)));
  }
  switch (request.kind_case()) {
    case v1::WatchRequest::kHello:
      return OnHello(*stream, request.hello());
    case v1::WatchRequest::kCsr:
      return OnCsr(*stream, request.csr());
    case v1::WatchRequest::kBundleAck: {
      const StreamInfo info = stream->info();
      if (!info.hello_done()) {
        return Refuse(info, "",
                      auth::Refusal(absl::StatusCode::kFailedPrecondition, "no_hello",
                                    "the first message must be Hello"));
      }
      const uint64_t version = CaBundleVersion(request.bundle_ack().version());
      stream->Update([version](StreamInfo& i) {
        i.acked_bundle_version = std::max(i.acked_bundle_version, version);
      });
      return absl::OkStatus();
    }
    case v1::WatchRequest::kConnectionReport: {
      const StreamInfo info = stream->info();
      if (!info.hello_done()) {
        return Refuse(info, "",
                      auth::Refusal(absl::StatusCode::kFailedPrecondition, "no_hello",
                                    "the first message must be Hello"));
      }
      const auto& roots = request.connection_report().roots();
      if (static_cast<size_t>(roots.size()) > kMaxReportedRoots) {
        return Refuse(info, "",
                      auth::Refusal(absl::StatusCode::kInvalidArgument, "malformed_report",
                                    absl::StrCat("ConnectionReport lists more than ",
                                                 kMaxReportedRoots, " roots")));
      }
      std::map<std::string, uint64_t> usage;
      for (const auto& r : roots) usage[r.fingerprint_sha256()] += r.live_connections();
      stream->Update([&usage](StreamInfo& i) { i.connections_by_root = std::move(usage); });
      return absl::OkStatus();
    }
    case v1::WatchRequest::KIND_NOT_SET:
      break;
  }
  return Refuse(
      stream->info(), "",
      auth::Refusal(absl::StatusCode::kInvalidArgument, "unknown_message",
                    "WatchRequest carries no message this server knows (empty, or a newer "
                    "kind)"));
}

absl::Status IdentityService::OnHello(WatchStream& stream, const v1::Hello& hello) {
  StreamInfo info = stream.info();
  info.instance = hello.instance_name().substr(0, kMaxInstanceName);
  if (info.hello_done()) {
    return Refuse(info, "",
                  auth::Refusal(absl::StatusCode::kFailedPrecondition, "duplicate_hello",
                                "Hello was already received on this stream"));
  }
  if (hello.instance_name().size() > kMaxInstanceName || !PrintableName(hello.instance_name()) ||
      hello.version().size() > kMaxInstanceName || !PrintableName(hello.version())) {
    info.instance = "";
    return Refuse(
        info, "",
        auth::Refusal(absl::StatusCode::kInvalidArgument, "malformed_hello",
                      "instance_name and version must be printable ASCII of at most 253 bytes"));
  }
  const absl::Time now = options_.clock();
  std::optional<identity::SpiffeId> id;
  if (info.peer.has_value() && info.peer->spiffe_id.has_value()) {
    id = info.peer->spiffe_id;
    info.credential = "svid";
    info.bootstrap = false;
    std::optional<std::string> lineage = deps_.registry->LineageOf(info.peer->serial);
    info.lineage = lineage.value_or("unknown");
    info.leaf_serial = info.peer->serial;
    info.leaf_root_fingerprint = info.peer->root_fingerprint;
    info.leaf_not_after = info.peer->not_after;
    for (absl::string_view kind : {"join_token:", "reattestation_token:"}) {
      if (!absl::StartsWith(info.lineage, kind)) continue;
      info.token_id = info.lineage.substr(kind.size());
      if (deps_.tokens->IsRevoked(info.token_id)) {
        return Refuse(
            info, id->ToString(),
            auth::Refusal(absl::StatusCode::kPermissionDenied, "token_revoked",
                          absl::StrCat("the ", TokenNoun(info.token_id), " ", info.token_id,
                                       " this identity was bootstrapped with is revoked")));
      }
    }
  } else if (hello.credential_case() == v1::Hello::kJoinToken ||
             hello.credential_case() == v1::Hello::kReattestationToken) {
    const bool join = hello.credential_case() == v1::Hello::kJoinToken;
    info.credential = join ? "join_token" : "reattestation_token";
    absl::StatusOr<auth::JoinToken> token =
        join ? deps_.tokens->Authenticate(hello.join_token(), now)
             : deps_.tokens->AuthenticateReattestation(hello.reattestation_token(), now);
    if (!token.ok()) return Refuse(info, "", token.status());
    absl::StatusOr<identity::SpiffeId> parsed = identity::SpiffeId::Parse(token->spiffe_id);
    if (!parsed.ok()) return Refuse(info, "", absl::InternalError("stored SPIFFE ID is invalid"));
    id = *parsed;
    info.bootstrap = true;
    info.token_id = token->id;
    info.lineage = absl::StrCat(info.credential, ":", token->id);
  } else if (hello.credential_case() == v1::Hello::kServiceAccountToken) {
    info.credential = "service_account";
    if (deps_.service_accounts == nullptr) {
      return Refuse(
          info, "",
          auth::Refusal(absl::StatusCode::kUnauthenticated, "service_account_not_configured",
                        "this control plane has no JWKS for service-account tokens"));
    }
    absl::StatusOr<identity::SpiffeId> verified =
        deps_.service_accounts->Verify(hello.service_account_token(), now);
    if (!verified.ok()) return Refuse(info, "", verified.status());
    id = *verified;
    info.bootstrap = true;
    info.lineage = "service_account";
  } else {
    return Refuse(info, "",
                  auth::Refusal(absl::StatusCode::kUnauthenticated, "no_credential",
                                "no client SVID, join token, re-attestation token or "
                                "service-account token"));
  }
  if (!id->IsMemberOf(options_.trust_domain)) {
    return Refuse(info, id->ToString(),
                  auth::Refusal(absl::StatusCode::kPermissionDenied, "wrong_trust_domain",
                                absl::StrCat(id->ToString(), " is not in trust domain ",
                                             options_.trust_domain)));
  }
  if (deps_.registry->IsDeregistered(id->ToString())) {
    return Refuse(info, id->ToString(),
                  auth::Refusal(absl::StatusCode::kPermissionDenied, "deregistered",
                                absl::StrCat(id->ToString(), " is de-registered")));
  }
  info.spiffe_id = id;
  info.version = hello.version();
  info.hello_at = now;
  stream.Update([&info](StreamInfo& i) {
    const absl::Time started = i.started_at;
    const std::optional<PeerIdentity> peer = i.peer;
    i = info;
    i.started_at = started;
    i.peer = peer;
  });
  v1::WatchResponse response;
  *response.mutable_bundle() = BundleMessage();
  stream.Send(std::move(response));
  // Before any SVID: a proxy's first snapshot already enforces it. A control
  // plane that never revoked anyone (version 0) has nothing to say, and the
  // stream stays as it was before deny-lists: bundle, then SVIDs.
  if (deps_.revocations != nullptr && deps_.revocations->Snapshot().version > 0) {
    v1::WatchResponse denied;
    *denied.mutable_deny_list() = DenyListMessage();
    stream.Send(std::move(denied));
  }
  // A leaf under a root that no longer issues (a proxy failing over from a
  // replica that died mid-rollover, or back from a long partition): a new
  // key now, after the bundle that trusts the new root, not at its next
  // renewal, which may come after the old root is retired.
  if (!info.bootstrap && !info.leaf_root_fingerprint.empty() &&
      info.leaf_root_fingerprint != deps_.ca->ActiveRootFingerprint()) {
    v1::WatchResponse rekey;
    rekey.mutable_rekey()->set_reason("root_rollover");
    stream.Send(std::move(rekey));
  }
  return absl::OkStatus();
}

absl::Status IdentityService::OnCsr(WatchStream& stream,
                                    const v1::CertificateSigningRequest& request) {
  const absl::Time started = absl::Now();
  StreamInfo info = stream.info();
  if (!info.hello_done()) {
    return Refuse(info, "",
                  auth::Refusal(absl::StatusCode::kFailedPrecondition, "no_hello",
                                "the first message must be Hello"));
  }
  const std::string id = info.spiffe_id->ToString();
  if (info.bootstrap && info.svids_issued > 0) {
    return Refuse(info, id,
                  auth::Refusal(absl::StatusCode::kFailedPrecondition, "bootstrap_already_issued",
                                "a bootstrap stream gets one SVID; reconnect with it"));
  }
  if (deps_.registry->IsDeregistered(id)) {
    return Refuse(info, id,
                  auth::Refusal(absl::StatusCode::kPermissionDenied, "deregistered",
                                absl::StrCat(id, " is de-registered")));
  }
  if (!info.token_id.empty() && deps_.tokens->IsRevoked(info.token_id)) {
    return Refuse(
        info, id,
        auth::Refusal(absl::StatusCode::kPermissionDenied, "token_revoked",
                      absl::StrCat(TokenNoun(info.token_id), " ", info.token_id, " is revoked")));
  }
  absl::StatusOr<identity::CheckedCsr> csr = identity::ParseAndCheckCsr(request.csr_der());
  if (!csr.ok()) {
    return Refuse(
        info, id,
        auth::Refusal(absl::StatusCode::kInvalidArgument, "malformed_csr", csr.status().message()));
  }
  if (csr->spiffe_id != *info.spiffe_id) {
    return Refuse(info, csr->spiffe_id.ToString(),
                  auth::Refusal(absl::StatusCode::kPermissionDenied, "wrong_identity",
                                absl::StrCat("CSR asks for ", csr->spiffe_id.ToString(),
                                             " but this stream is authenticated as ", id)));
  }
  if (!info.bootstrap && options_.renewals_blocked_by) {
    if (const std::string problem = options_.renewals_blocked_by(); !problem.empty()) {
      return Refuse(info, id,
                    auth::Refusal(absl::StatusCode::kUnavailable, "store_unavailable",
                                  absl::StrCat("renewals are refused while the store cannot be "
                                               "reached (--renewals_without_store=refuse): ",
                                               problem)));
    }
  }
  const absl::Time now = options_.clock();
  const WorkloadRegistry::Unexpired unexpired = deps_.registry->UnexpiredOf(id, now);
  if (absl::Status admitted =
          limiter_.Admit(id, unexpired.count, unexpired.earliest_not_after, now);
      !admitted.ok()) {
    return Refuse(info, id, admitted);
  }
  identity::LeafOptions leaf_options;
  leaf_options.now = now;
  leaf_options.ttl = options_.svid_ttl;
  leaf_options.backdate = std::min(options_.backdate, absl::Minutes(5));
  absl::StatusOr<ca::IssuedSvid> svid = deps_.ca->Issue(*csr, leaf_options);
  if (!svid.ok()) {
    return Refuse(
        info, id,
        auth::Refusal(absl::StatusCode::kInternal, "issuance_failed", svid.status().message()));
  }
  // Spent only once the SVID exists, and atomically: of two streams racing
  // with one single-use token, one gets it. A re-attestation token is
  // checked again the same way (revoked meanwhile?) and its expiry slides.
  absl::Status spent = absl::OkStatus();
  if (info.credential == "join_token") {
    spent = deps_.tokens->Spend(info.token_id, now);
  } else if (info.credential == "reattestation_token") {
    spent = deps_.tokens->UseReattestation(info.token_id, now, options_.reattestation_ttl);
  }
  if (!spent.ok()) return Refuse(info, id, spent);
  IssuedCertificate record;
  record.serial = identity::SerialHex(svid->leaf.get());
  record.spiffe_id = id;
  record.instance = info.instance;
  record.lineage = info.lineage;
  record.not_before = identity::NotBefore(svid->leaf.get());
  record.not_after = identity::NotAfter(svid->leaf.get());
  record.issued_at = now;
  record.root_fingerprint = svid->root_fingerprint;
  record.renewal = !info.bootstrap;
  deps_.registry->RecordIssuance(record);
  // A CSR that raced a revocation: its certificate must be covered too.
  if (deps_.revocations != nullptr) {
    absl::StatusOr<bool> extended = deps_.revocations->ExtendIfListed(id, record.not_after);
    if (extended.ok() && *extended) PushDenyList();
  }

  v1::WatchResponse response;
  v1::SvidUpdate* update = response.mutable_svid();
  update->set_request_id(request.request_id());
  update->add_certificate_chain_der(identity::CertificateToDer(svid->leaf.get()));
  for (const auto& c : svid->intermediates) {
    update->add_certificate_chain_der(identity::CertificateToDer(c.get()));
  }
  SetTimestamp(RenewAfter(now, record.not_after), update->mutable_renew_after());
  *update->mutable_bundle() = BundleMessage();
  std::string detail;
  if (info.credential == "join_token") {
    // Outlives the spent join token: the proxy obtains an SVID with it again
    // whenever it has lost its own (an outage longer than the SVID, a restart).
    absl::StatusOr<auth::JoinTokenStore::Created> reattestation = deps_.tokens->CreateReattestation(
        *info.spiffe_id, info.token_id, options_.reattestation_ttl, now);
    if (reattestation.ok()) {
      update->set_reattestation_token(reattestation->token);
      detail = absl::StrCat("re-attestation token ", reattestation->info.id, " issued");
    } else {
      log::LogEvent(log::Level::kError, "control",
                    "cannot issue a re-attestation token; the SVID goes without one",
                    {{"spiffe_id", id}, {"error", std::string(reattestation.status().message())}});
    }
  } else if (info.credential == "reattestation_token") {
    detail = info.lineage;
  }
  if (absl::Status s = deps_.tokens->SlideReattestation(id, now, options_.reattestation_ttl);
      !s.ok()) {
    log::LogEvent(log::Level::kWarn, "control", "cannot extend re-attestation tokens",
                  {{"spiffe_id", id}, {"error", std::string(s.message())}});
  }
  stream.Update([&record](StreamInfo& i) {
    ++i.svids_issued;
    i.leaf_serial = record.serial;
    i.leaf_root_fingerprint = record.root_fingerprint;
    i.leaf_not_after = record.not_after;
  });

  AuditEvent event;
  event.time = now;
  event.event = "issued";
  event.spiffe_id = id;
  event.serial = record.serial;
  event.not_after = record.not_after;
  event.instance = info.instance;
  event.result = "OK";
  event.reason = info.bootstrap ? absl::StrCat("bootstrap_", info.credential) : "renewal";
  event.detail = detail;
  event.peer = info.credential;
  deps_.audit->Record(event);
  if (deps_.metrics != nullptr) {
    deps_.metrics->OnIssued(info.bootstrap ? "bootstrap" : "renewal", absl::Now() - started);
  }
  stream.Send(std::move(response));
  // One SVID per bootstrap stream: renewals authenticate with it over mTLS.
  if (info.bootstrap) stream.End(absl::OkStatus());
  return absl::OkStatus();
}

absl::Time IdentityService::RenewAfter(absl::Time now, absl::Time not_after) {
  thread_local absl::BitGen bitgen;
  const double spread = options_.renew_spread > 0
                            ? absl::Uniform(bitgen, -options_.renew_spread, options_.renew_spread)
                            : 0.0;
  return now + (not_after - now) / 2 * (1.0 + spread);
}

// With federation the pushed version must also move when only a foreign
// domain's roots change, while acknowledgements still count in the CA's
// versions (the rollover waits on those): the CA's version in the high 32
// bits, the federation's generation in the low ones. Both only grow within
// a process, and a proxy compares versions within one stream only.
uint64_t IdentityService::CaBundleVersion(uint64_t pushed) const {
  return deps_.federation == nullptr ? pushed : pushed >> 32;
}

v1::TrustBundleUpdate IdentityService::BundleMessage() const {
  const ca::Bundle bundle = deps_.ca->CurrentBundle();
  v1::TrustBundleUpdate update;
  update.set_version(bundle.version);
  v1::TrustDomainBundle* domain = update.add_trust_domains();
  domain->set_trust_domain(options_.trust_domain);
  for (const auto& root : bundle.roots) {
    domain->add_root_certificates_der(identity::CertificateToDer(root.get()));
  }
  if (deps_.federation != nullptr) {
    update.set_version((bundle.version << 32) | (deps_.federation->generation() & 0xffffffffu));
    for (const federation::DomainRoots& foreign : deps_.federation->Roots()) {
      v1::TrustDomainBundle* other = update.add_trust_domains();
      other->set_trust_domain(foreign.trust_domain);
      for (const std::string& der : foreign.roots_der) other->add_root_certificates_der(der);
    }
  }
  return update;
}

std::vector<std::shared_ptr<WatchStream>> IdentityService::Snapshot() const {
  sync::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<WatchStream>> out;
  out.reserve(streams_.size());
  for (const auto& [id, stream] : streams_) out.push_back(stream);
  return out;
}

void IdentityService::PushBundle() {
  const v1::TrustBundleUpdate bundle = BundleMessage();
  for (const auto& stream : Snapshot()) {
    if (!stream->info().hello_done()) continue;
    v1::WatchResponse response;
    *response.mutable_bundle() = bundle;
    stream->Send(std::move(response));
  }
}

v1::DenyList IdentityService::DenyListMessage() const {
  v1::DenyList list;
  if (deps_.revocations == nullptr) return list;
  const state::RevocationState state = deps_.revocations->Snapshot();
  list.set_version(state.version);
  for (const state::RevocationRecord& r : state.entries) {
    v1::RevokedIdentity* entry = list.add_entries();
    entry->set_spiffe_id(r.spiffe_id);
    SetTimestamp(r.expires_at, entry->mutable_expires_at());
  }
  return list;
}

void IdentityService::PushDenyList() {
  if (deps_.revocations == nullptr) return;
  const v1::DenyList list = DenyListMessage();
  for (const auto& stream : Snapshot()) {
    if (!stream->info().hello_done() || stream->ending()) continue;
    v1::WatchResponse response;
    *response.mutable_deny_list() = list;
    stream->Send(std::move(response));
  }
}

void IdentityService::RequestRekey(const std::string& reason) {
  for (const auto& stream : Snapshot()) {
    const StreamInfo info = stream->info();
    if (!info.hello_done() || info.bootstrap) continue;
    v1::WatchResponse response;
    response.mutable_rekey()->set_reason(reason);
    stream->Send(std::move(response));
  }
}

size_t IdentityService::CloseStreamsOf(const std::string& spiffe_id, const std::string& reason) {
  size_t closed = 0;
  for (const auto& stream : Snapshot()) {
    const StreamInfo info = stream->info();
    if (!info.spiffe_id.has_value() || info.spiffe_id->ToString() != spiffe_id) continue;
    if (stream->ending()) continue;
    if (stream->End(Refuse(info, spiffe_id,
                           auth::Refusal(absl::StatusCode::kPermissionDenied, reason,
                                         absl::StrCat(spiffe_id, " is ", reason))))) {
      ++closed;
    }
  }
  return closed;
}

size_t IdentityService::CloseStreamsOfToken(const std::string& token_id,
                                            const std::string& reason) {
  size_t closed = 0;
  for (const auto& stream : Snapshot()) {
    const StreamInfo info = stream->info();
    if (info.token_id != token_id || stream->ending()) continue;
    if (stream->End(Refuse(
            info, "",
            auth::Refusal(absl::StatusCode::kPermissionDenied, reason,
                          absl::StrCat(TokenNoun(token_id), " ", token_id, " was revoked"))))) {
      ++closed;
    }
  }
  return closed;
}

void IdentityService::CheckDeadlines() {
  const absl::Time now = options_.clock();
  for (const auto& stream : Snapshot()) {
    if (stream->ending()) continue;
    const StreamInfo info = stream->info();
    if (!info.hello_done() && now - info.started_at >= options_.hello_timeout) {
      stream->End(Refuse(
          info, "",
          auth::Refusal(
              absl::StatusCode::kDeadlineExceeded, "hello_timeout",
              absl::StrCat("no Hello within ", absl::FormatDuration(options_.hello_timeout)))));
    } else if (info.hello_done() && !info.bootstrap && info.leaf_not_after < now) {
      // The SVID that authenticated this stream (or its last renewal on it)
      // has expired: the stream no longer proves anything.
      stream->End(
          Refuse(info, "",
                 auth::Refusal(absl::StatusCode::kUnauthenticated, "svid_expired",
                               "the SVID authenticating this stream expired without renewal")));
    } else if (info.hello_done() && info.bootstrap && info.svids_issued == 0 &&
               now - info.hello_at >= options_.csr_timeout) {
      stream->End(Refuse(info, "",
                         auth::Refusal(absl::StatusCode::kDeadlineExceeded, "csr_timeout",
                                       absl::StrCat("bootstrap stream sent no CSR within ",
                                                    absl::FormatDuration(options_.csr_timeout)))));
    }
  }
}

std::vector<StreamInfo> IdentityService::Streams() const {
  std::vector<StreamInfo> out;
  for (const auto& stream : Snapshot()) out.push_back(stream->info());
  return out;
}

std::vector<ca::ProxyView> IdentityService::Fleet() const {
  std::vector<ca::ProxyView> fleet;
  for (const auto& stream : Snapshot()) {
    const StreamInfo info = stream->info();
    // Bootstrap streams end after one SVID; the proxy comes back over mTLS.
    if (!info.hello_done() || info.bootstrap || stream->ending()) continue;
    ca::ProxyView view;
    view.name = ProxyName(info);
    view.acked_bundle_version = info.acked_bundle_version;
    view.leaf_root_fingerprint = info.leaf_root_fingerprint;
    view.connections_by_root = info.connections_by_root;
    fleet.push_back(std::move(view));
  }
  return fleet;
}

size_t IdentityService::stream_count() const {
  sync::MutexLock lock(&mu_);
  return streams_.size();
}

}  // namespace palisade::control::service
