#include "proxy/identity_client/control_plane_source.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "identity/csr.h"
#include "identity/keys.h"
#include "proxy/config/config_defaults.h"
#include "proxy/identity_client/bootstrap_credential.h"
#include "proxy/identity_client/watch_messages.h"
#include "runtime/log/logging.h"
#include "runtime/status/status_macros.h"

namespace palisade::identity_client {
namespace {

using log::Level;

constexpr char kSource[] = "control-plane";
constexpr char kLogger[] = "control";
// After a failed write the reader normally sees the stream's end at once;
// past this the stream is cancelled.
constexpr absl::Duration kEndGrace = absl::Seconds(5);

Backoff::Options BackoffOptions(const config::v1::ControlPlaneIdentitySource& config) {
  Backoff::Options options;
  options.initial = config::DurationOr(config.has_initial_backoff(), config.initial_backoff(),
                                       config::kDefaultInitialBackoff);
  options.max = config::DurationOr(config.has_max_backoff(), config.max_backoff(),
                                   config::kDefaultMaxBackoff);
  return options;
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

std::string Message(const absl::Status& status) { return std::string(status.message()); }

}  // namespace

// One Watch stream and what is pending on it; control thread only.
struct ControlPlaneSource::Stream {
  WatchCall* call = nullptr;
  std::string address;  // the replica's "host:port"
  Credential credential = Credential::kBootstrap;
  absl::Time opened_at;
  bool got_bundle = false;
  bool ended = false;      // the server ended it, or Stop() did
  bool cancelled = false;  // we gave up on it
  absl::Time write_failed_at = absl::InfiniteFuture();
  std::optional<uint64_t> bundle_version;  // the newest seen on this stream
  std::optional<uint64_t> acked_version;
  std::optional<uint64_t> pending_request;
  bssl::UniquePtr<EVP_PKEY> pending_key;
  absl::Time csr_deadline = absl::InfiniteFuture();
  absl::Time next_report = absl::InfiniteFuture();
};

absl::StatusOr<std::unique_ptr<ControlPlaneSource>> ControlPlaneSource::Start(Options options) {
  if (options.store == nullptr) return absl::InvalidArgumentError("no credential store");
  const config::v1::ControlPlaneIdentitySource& config = options.config;
  ASSIGN_OR_RETURN(identity::TrustBundleSet bootstrap, LoadBootstrapBundle(config));
  ASSIGN_OR_RETURN(identity::SpiffeId workload_id, ResolveWorkloadId(options.spiffe_id, config));
  if (config.renew_fraction() > 0) options.renewal.fraction = config.renew_fraction();
  if (!options.unit_random) {
    auto gen = std::make_shared<absl::BitGen>();  // control thread only
    options.unit_random = [gen] { return absl::Uniform(*gen, 0.0, 1.0); };
  }
  std::unique_ptr<ControlPlaneSource> source(
      new ControlPlaneSource(std::move(options), std::move(workload_id), std::move(bootstrap)));
  source->thread_ = std::thread([s = source.get()] { s->Run(); });
  return source;
}

ControlPlaneSource::ControlPlaneSource(Options options, identity::SpiffeId workload_id,
                                       identity::TrustBundleSet bootstrap_bundles)
    : options_(std::move(options)),
      workload_id_(std::move(workload_id)),
      bootstrap_bundles_(std::move(bootstrap_bundles)),
      reattestation_(ReattestationTokenFile::PathFor(options_.config)),
      reconnect_backoff_(BackoffOptions(options_.config), options_.unit_random),
      retry_backoff_(BackoffOptions(options_.config), options_.unit_random),
      candidates_({.addresses = ControlPlaneCandidates::Configured(options_.config),
                   .resolve = options_.resolve,
                   .unit_random = options_.unit_random}) {}

ControlPlaneSource::~ControlPlaneSource() { Stop(); }

void ControlPlaneSource::Stop() {
  {
    sync::MutexLock lock(&mutex_);
    stopping_ = true;
    if (call_ != nullptr) call_->Cancel();
    mutex_.NotifyAll();
  }
  std::call_once(joined_, [this] { thread_.join(); });
}

ControlPlaneSource::Status ControlPlaneSource::status() const {
  sync::MutexLock lock(&mutex_);
  return status_;
}

bool ControlPlaneSource::stopping() const {
  sync::MutexLock lock(&mutex_);
  return stopping_;
}

void ControlPlaneSource::Pause(absl::Duration delay) {
  const absl::Time until = options_.clock() + delay;
  for (;;) {
    CheckExpiry();
    const absl::Duration left = until - options_.clock();
    if (left <= absl::ZeroDuration()) return;
    sync::MutexLock lock(&mutex_);
    if (stopping_) return;
    mutex_.AwaitWithTimeout([this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return stopping_; },
                            std::min(left, options_.max_idle_wait));
  }
}

void ControlPlaneSource::Run() {
  log::LogEvent(
      Level::kInfo, kLogger, "control-plane identity source started",
      {{"address", absl::StrJoin(ControlPlaneCandidates::Configured(options_.config), ",")},
       {"server_spiffe_id", options_.config.server_spiffe_id()},
       {"spiffe_id", workload_id_.ToString()}});
  using Ended = ControlPlaneCandidates::Ended;
  while (!stopping()) {
    const Attempt attempt = RunAttempt();
    if (stopping()) break;
    // The next replica at once; the backoff only once a whole round failed.
    const bool round_failed = candidates_.OnEnded(attempt.reconnect_at_once ? Ended::kReconnect
                                                  : attempt.served          ? Ended::kWorked
                                                                            : Ended::kFailed);
    absl::Duration delay = absl::ZeroDuration();
    if (attempt.reconnect_at_once || attempt.healthy) reconnect_backoff_.Reset();
    if (round_failed) {
      // Never so long that the SVID runs out before the next attempt.
      const credentials::CredentialStore::Snapshot current = options_.store->Current();
      delay = RetryDelay(
          reconnect_backoff_.Next(), options_.clock(),
          current != nullptr ? std::optional<absl::Time>(current->not_after) : std::nullopt,
          options_.retry);
    }
    if (!attempt.error.empty()) {
      Update([&](Status& s) {
        ++s.failed_attempts;
        s.last_error = attempt.error;
      });
      const credentials::CredentialStore::Snapshot current = options_.store->Current();
      log::LogEvent(
          Level::kWarn, kLogger,
          current == nullptr ? "control plane unavailable; no SVID yet"
          : current->not_after <= options_.clock()
              ? "control plane unavailable; the SVID is past its notAfter: new connections are "
                "refused until it is renewed"
              : "control plane unavailable; serving with the current SVID",
          {{"error", attempt.error},
           {"address", attempt.address},
           {"next_address", candidates_.Current()},
           {"attempt", reconnect_backoff_.attempts()},
           {"retry_in", absl::FormatDuration(absl::Trunc(delay, absl::Milliseconds(1)))}});
    }
    Pause(delay);
  }
  log::LogEvent(Level::kInfo, kLogger, "control-plane identity source stopped", {});
}

ControlPlaneSource::Attempt ControlPlaneSource::RunAttempt() {
  Attempt attempt;
  const credentials::CredentialStore::Snapshot snapshot = options_.store->Current();
  const bool usable_svid = snapshot != nullptr && snapshot->not_after > options_.clock();
  Stream stream;
  attempt.address = candidates_.Current();
  stream.address = attempt.address;
  // A server that refused our SVID last time (e.g. it lost its CA) gets the
  // bootstrap credential this time.
  stream.credential =
      usable_svid && !svid_refused_by_server_ ? Credential::kSvid : Credential::kBootstrap;
  SecureChannelOptions channel_options;
  channel_options.address = attempt.address;
  channel_options.server_spiffe_id = options_.config.server_spiffe_id();
  // Before the first bundle arrives the bootstrap file vouches for the
  // control plane; after it, the control plane's own bundle does.
  channel_options.bundles = bundles_.has_value() ? *bundles_ : bootstrap_bundles_;
  channel_options.connect_timeout = options_.connect_timeout;
  channel_options.handshake_timeout = options_.handshake_timeout;
  channel_options.clock = options_.clock;
  if (stream.credential == Credential::kSvid) {
    for (const auto& cert : snapshot->chain) {
      channel_options.client_chain.push_back(bssl::UpRef(cert));
    }
    channel_options.client_key = bssl::UpRef(snapshot->key);
  }
  absl::StatusOr<std::unique_ptr<WatchCall>> call = WatchCall::Start(std::move(channel_options));
  if (!call.ok()) {
    attempt.error = Message(call.status());
    return attempt;
  }
  {
    sync::MutexLock lock(&mutex_);
    if (stopping_) return attempt;
    call_ = call->get();  // for Stop()
  }
  stream.call = call->get();
  control::v1::WatchRequest hello;
  hello.mutable_hello()->set_instance_name(options_.config.instance_name());
  hello.mutable_hello()->set_version(options_.version);
  absl::Status ready = stream.call->WaitOpen();
  if (ready.ok() && stream.credential == Credential::kBootstrap) {
    ready = reattestation_.AddCredential(options_.config, hello.mutable_hello());
  }
  WatchCall::Outcome outcome;
  if (ready.ok()) {
    stream.opened_at = options_.clock();
    OnOpened(stream, hello.hello());
    Write(stream, hello);
    Serve(stream, attempt);
    outcome = stream.call->Finish();
    if (stream.pending_request.has_value() && next_renewal_.has_value()) {
      // A CSR went unanswered (refused for now by the issuance limit, or the
      // stream broke): the next stream asks again, even for a re-key it
      // would not be sent again.
      next_renewal_ = std::min(*next_renewal_, options_.clock());
      Update([&](Status& s) { s.next_renewal = next_renewal_; });
      if (outcome.status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
        log::LogEvent(Level::kWarn, kLogger,
                      "the control plane's issuance limit refused the CSR for now; the current "
                      "SVID stays and the CSR is sent again after the backoff",
                      {{"error", outcome.status.error_message()}});
      }
    }
    Update([](Status& s) { s.connected = false; });
    if (options_.metrics != nullptr) options_.metrics->SetControlPlaneConnected(false);
  }
  {
    sync::MutexLock lock(&mutex_);
    call_ = nullptr;  // Stop() no longer reaches it
  }
  call->reset();
  if (stopping()) return attempt;
  if (!ready.ok()) {
    svid_refused_by_server_ = stream.credential == Credential::kSvid &&
                              absl::StrContains(ready.message(), "peer_rejected_certificate");
    attempt.error = Message(ready);
    return attempt;
  }
  if (hello.hello().has_reattestation_token() &&
      outcome.status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
    // Revoked or expired: an operator may have written a new join token.
    reattestation_.MarkRefused(hello.hello().reattestation_token());
    log::LogEvent(Level::kWarn, kLogger,
                  "the control plane refused the re-attestation token; the next attempt uses the "
                  "join token, and this one is not offered again until its file changes",
                  {{"file", reattestation_.path()}, {"error", outcome.status.error_message()}});
  }
  // In TLS 1.3 a refusal of our certificate arrives after the handshake.
  svid_refused_by_server_ =
      stream.credential == Credential::kSvid && !stream.got_bundle &&
      absl::StrContains(outcome.transport.message(), "peer_rejected_certificate");
  // Served long enough to count as a replica that worked (the next failure
  // starts a new round). A replica that ends every stream at once (a CSR
  // refused for now) is a failure, so replicas that all do cannot be cycled
  // through without a backoff.
  attempt.served = stream.got_bundle &&
                   (attempt.installed ||
                    options_.clock() - stream.opened_at >= BackoffOptions(options_.config).initial);
  attempt.reconnect_at_once = stream.credential == Credential::kBootstrap && attempt.installed &&
                              outcome.server_ended && outcome.status.ok();
  attempt.healthy = attempt.installed ||
                    options_.clock() - stream.opened_at >= BackoffOptions(options_.config).max;
  if (attempt.reconnect_at_once) {
    log::LogEvent(Level::kInfo, kLogger,
                  "the control plane ended the bootstrap stream; reconnecting with the new SVID",
                  {});
  } else if (!stream.got_bundle || !outcome.status.ok()) {
    attempt.error = absl::StrCat(
        "stream ended: ", outcome.status.error_message(),
        outcome.transport.ok() ? "" : absl::StrCat(" (", outcome.transport.message(), ")"));
  } else {
    log::LogEvent(Level::kInfo, kLogger, "the control plane ended the stream", {});
  }
  return attempt;
}

void ControlPlaneSource::OnOpened(const Stream& stream, const control::v1::Hello& hello) {
  uint64_t streams = 0;
  const bool failover = !last_address_.empty() && last_address_ != stream.address;
  last_address_ = stream.address;
  Update([&](Status& s) {
    s.connected = true;
    streams = ++s.streams;
    if (streams > 1) ++s.reconnects;
    if (failover) ++s.failovers;
    s.address = stream.address;
  });
  if (options_.metrics != nullptr) {
    options_.metrics->SetControlPlaneConnected(true);
    options_.metrics->SetControlPlaneAddress(stream.address);
    if (streams > 1) options_.metrics->OnControlPlaneReconnect();
    if (failover) options_.metrics->OnControlPlaneFailover();
  }
  const std::optional<identity::VerifiedSvid> server = stream.call->server();
  log::LogEvent(Level::kInfo, kLogger, "connected to the control plane",
                {{"address", stream.address},
                 {"failover", failover},
                 {"server_spiffe_id", server.has_value() ? server->spiffe_id.ToString() : ""},
                 {"authenticated_with", stream.credential == Credential::kSvid ? "svid"
                                        : hello.has_reattestation_token() ? "reattestation_token"
                                        : hello.has_join_token()          ? "join_token"
                                                                 : "service_account_token"}});
}

void ControlPlaneSource::Serve(Stream& stream, Attempt& attempt) {
  for (;;) {
    if (stream.ended || stream.cancelled) return;
    const absl::Time now = options_.clock();
    const bool renewal_armed = stream.credential == Credential::kSvid && stream.got_bundle &&
                               !stream.pending_request.has_value() && next_renewal_.has_value();
    if (stream.write_failed_at != absl::InfiniteFuture()) {
      // Nothing more can be sent; wait briefly for the reader to see the end.
      if (now - stream.write_failed_at >= kEndGrace) return;
    } else if (stream.pending_request.has_value() && now >= stream.csr_deadline) {
      log::LogEvent(Level::kWarn, kLogger, "the control plane did not answer a CSR; reconnecting",
                    {{"request_id", *stream.pending_request},
                     {"waited", absl::FormatDuration(options_.csr_timeout)}});
      stream.cancelled = true;
      return;
    } else if (renewal_armed && *next_renewal_ <= now) {
      SendCsr(stream, "renewal");
      continue;
    } else if (stream.next_report <= now) {
      SendReport(stream);
      continue;
    }
    if (stream.next_report == absl::InfiniteFuture() && options_.store->Current() != nullptr) {
      stream.next_report = now + options_.report_interval;
    }
    absl::Time deadline = std::min(stream.next_report, stream.csr_deadline);
    if (stream.write_failed_at != absl::InfiniteFuture()) {
      deadline = stream.write_failed_at + kEndGrace;
    } else if (renewal_armed) {
      deadline = std::min(deadline, *next_renewal_);
    }
    CheckExpiry();
    control::v1::WatchResponse response;
    const absl::Duration wait = std::min(deadline - options_.clock(), options_.max_idle_wait);
    switch (stream.call->WaitNext(wait, &response)) {
      case WatchCall::Next::kMessage:
        Handle(stream, response, attempt);
        break;
      case WatchCall::Next::kEnded:
        stream.ended = true;
        return;
      case WatchCall::Next::kTimeout:
        break;
    }
  }
}

void ControlPlaneSource::Handle(Stream& stream, const control::v1::WatchResponse& response,
                                Attempt& attempt) {
  switch (response.kind_case()) {
    case control::v1::WatchResponse::kBundle:
      stream.got_bundle = true;
      OnBundle(stream, response.bundle());
      if (stream.credential == Credential::kBootstrap && !stream.pending_request.has_value() &&
          !attempt.installed) {
        SendCsr(stream, "first SVID");
      }
      return;
    case control::v1::WatchResponse::kSvid:
      OnSvid(stream, response.svid(), attempt);
      return;
    case control::v1::WatchResponse::kRekey:
      log::LogEvent(Level::kInfo, kLogger, "the control plane asks for a new key",
                    {{"reason", response.rekey().reason()}});
      // A CSR in flight already carries a fresh key.
      if (!stream.pending_request.has_value()) {
        SendCsr(stream, absl::StrCat("rekey: ", response.rekey().reason()));
      }
      return;
    case control::v1::WatchResponse::kDenyList:
      OnDenyList(response.deny_list());
      return;
    case control::v1::WatchResponse::KIND_NOT_SET:
      return;
  }
}

void ControlPlaneSource::OnDenyList(const control::v1::DenyList& update) {
  absl::StatusOr<std::shared_ptr<const identity::DenyList>> list = DenyListFromProto(update);
  if (!list.ok()) {
    RecordRejection("refusing a deny-list from the control plane", list.status());
    return;
  }
  const size_t entries = (*list)->size();
  options_.store->UpdateDenyList(*std::move(list));
  log::LogEvent(Level::kInfo, kLogger, "deny-list installed",
                {{"version", update.version()}, {"entries", entries}});
}

bool ControlPlaneSource::IsStale(Stream& stream, const control::v1::TrustBundleUpdate& update) {
  if (stream.bundle_version.has_value() && update.version() < *stream.bundle_version) {
    log::LogEvent(Level::kWarn, kLogger, "ignoring a trust bundle older than one already received",
                  {{"version", update.version()}, {"newest", *stream.bundle_version}});
    return true;
  }
  stream.bundle_version = update.version();
  return false;
}

void ControlPlaneSource::OnBundle(Stream& stream, const control::v1::TrustBundleUpdate& update) {
  if (IsStale(stream, update)) return;
  absl::StatusOr<identity::TrustBundleSet> bundles = BundleFromProto(update);
  if (!bundles.ok()) {
    RecordRejection("refusing a trust bundle from the control plane", bundles.status());
    return;
  }
  bundles_ = *bundles;
  const credentials::CredentialStore::Snapshot current = options_.store->Current();
  if (current == nullptr) return;  // installed with the first SVID
  if (current->bundles.Fingerprints() != bundles->Fingerprints()) {
    if (absl::Status s = options_.store->UpdateBundles(*std::move(bundles), kSource); !s.ok()) {
      RecordRejection("the trust bundle from the control plane cannot be installed", s);
      return;
    }
    log::LogEvent(Level::kInfo, kLogger, "trust bundle installed", {{"version", update.version()}});
  }
  NoteMissingTrustDomains();
  SendBundleAck(stream, update.version());
}

void ControlPlaneSource::NoteMissingTrustDomains() {
  const credentials::CredentialStore::Snapshot current = options_.store->Current();
  if (current == nullptr) return;
  const std::vector<std::string> expected(options_.config.federated_trust_domains().begin(),
                                          options_.config.federated_trust_domains().end());
  std::vector<std::string> missing = MissingTrustDomains(current->bundles, expected);
  if (missing_domains_ == missing) return;
  if (!missing.empty()) {
    log::LogEvent(Level::kWarn, kLogger,
                  "no trust bundle for a federated trust domain the configuration lists; its "
                  "peers are refused until palisade-control delivers one (is it federated "
                  "there?)",
                  {{"trust_domains", absl::StrJoin(missing, ",")}});
  } else if (missing_domains_.has_value()) {
    log::LogEvent(Level::kInfo, kLogger, "every federated trust domain has a trust bundle", {});
  }
  if (options_.metrics != nullptr) options_.metrics->SetMissingTrustDomains(missing.size());
  Update([&](Status& s) { s.missing_trust_domains = missing; });
  missing_domains_ = std::move(missing);
}

void ControlPlaneSource::OnSvid(Stream& stream, const control::v1::SvidUpdate& update,
                                Attempt& attempt) {
  if (!stream.pending_request.has_value() || update.request_id() != *stream.pending_request) {
    log::LogEvent(Level::kWarn, kLogger, "ignoring an SVID that answers no pending CSR",
                  {{"request_id", update.request_id()}});
    return;
  }
  bssl::UniquePtr<EVP_PKEY> key = std::move(stream.pending_key);
  stream.pending_request.reset();
  stream.csr_deadline = absl::InfiniteFuture();
  // Kept whether or not the SVID is accepted: the join token is spent either way.
  if (!update.reattestation_token().empty()) SaveReattestationToken(update.reattestation_token());
  const absl::Time now = options_.clock();
  const auto refuse = [&](const absl::Status& why) {
    RecordRejection("the control plane issued an SVID this proxy refuses", why);
    next_renewal_ = now + retry_backoff_.Next();
    Update([&](Status& s) { s.next_renewal = next_renewal_; });
  };

  std::optional<identity::TrustBundleSet> bundles = bundles_;
  const bool with_bundle = update.has_bundle() && !IsStale(stream, update.bundle());
  if (with_bundle) {
    absl::StatusOr<identity::TrustBundleSet> parsed = BundleFromProto(update.bundle());
    if (!parsed.ok()) {
      refuse(parsed.status());
      return;
    }
    bundles = *std::move(parsed);
  }
  if (!bundles.has_value()) {
    refuse(absl::FailedPreconditionError("no trust bundle to verify the SVID with"));
    return;
  }
  absl::StatusOr<credentials::CredentialMaterial> material =
      MaterialFromSvidUpdate(update, workload_id_, std::move(key), *bundles);
  absl::Status installed_status =
      material.ok() ? options_.store->Update(*std::move(material)) : material.status();
  if (!installed_status.ok()) {
    refuse(installed_status);
    return;
  }
  retry_backoff_.Reset();
  attempt.installed = true;
  if (with_bundle) bundles_ = bundles;
  NoteMissingTrustDomains();
  const credentials::CredentialStore::Snapshot installed = options_.store->Current();
  next_renewal_ = NextRenewalTime(installed->not_before, installed->not_after, now,
                                  RenewAfterOf(update), options_.renewal, options_.unit_random());
  Update([&](Status& s) {
    ++s.svids_installed;
    s.next_renewal = next_renewal_;
  });
  if (options_.metrics != nullptr) options_.metrics->OnRenewal(now);
  log::LogEvent(Level::kInfo, kLogger, "SVID installed from the control plane",
                {{"spiffe_id", installed->spiffe_id.ToString()},
                 {"serial", installed->serial},
                 {"not_after", Rfc3339(installed->not_after)},
                 {"next_renewal", Rfc3339(*next_renewal_)}});
  // The bundle is installed with the SVID: acknowledge it (on a bootstrap
  // stream the Hello's bundle could not be installed before).
  const std::optional<uint64_t> version =
      with_bundle ? std::optional<uint64_t>(update.bundle().version()) : stream.bundle_version;
  if (version.has_value() && stream.acked_version != version) SendBundleAck(stream, *version);
}

void ControlPlaneSource::SaveReattestationToken(const std::string& token) {
  const absl::Status saved = reattestation_.Save(token);
  if (options_.metrics != nullptr) options_.metrics->OnReattestationTokenWrite(saved.ok());
  if (saved.ok()) {
    log::LogEvent(Level::kInfo, kLogger, "re-attestation token saved",
                  {{"file", reattestation_.path()}});
    return;
  }
  Update([](Status& s) { ++s.reattestation_write_failures; });
  // The SVID is still used; after losing it this proxy needs a new join token.
  log::LogEvent(Level::kError, kLogger,
                "cannot save the re-attestation token: after losing its SVID this proxy will "
                "need a new join token",
                {{"file", reattestation_.path()}, {"error", Message(saved)}});
}

void ControlPlaneSource::SendCsr(Stream& stream, const std::string& reason) {
  absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> key = identity::GenerateP256Key();
  absl::StatusOr<std::string> csr =
      key.ok() ? identity::CreateCsrDer(key->get(), workload_id_) : key.status();
  if (!csr.ok()) {
    log::LogEvent(Level::kError, kLogger, "cannot make a CSR", {{"error", Message(csr.status())}});
    stream.cancelled = true;
    return;
  }
  control::v1::WatchRequest request;
  request.mutable_csr()->set_csr_der(*std::move(csr));
  request.mutable_csr()->set_request_id(++next_request_id_);
  stream.pending_request = next_request_id_;
  stream.pending_key = *std::move(key);
  stream.csr_deadline = options_.clock() + options_.csr_timeout;
  log::LogEvent(Level::kInfo, kLogger, "requesting an SVID",
                {{"spiffe_id", workload_id_.ToString()},
                 {"reason", reason},
                 {"request_id", next_request_id_}});
  Write(stream, request);
}

void ControlPlaneSource::SendBundleAck(Stream& stream, uint64_t version) {
  control::v1::WatchRequest request;
  request.mutable_bundle_ack()->set_version(version);
  if (!Write(stream, request)) return;
  stream.acked_version = version;
  Update([](Status& s) { ++s.bundle_acks; });
  SendReport(stream);
}

void ControlPlaneSource::SendReport(Stream& stream) {
  stream.next_report = options_.clock() + options_.report_interval;
  if (!options_.connections_by_root || options_.store->Current() == nullptr) return;
  control::v1::WatchRequest request;
  *request.mutable_connection_report() = ConnectionReportOf(options_.connections_by_root());
  if (Write(stream, request)) Update([](Status& s) { ++s.reports_sent; });
}

bool ControlPlaneSource::Write(Stream& stream, const control::v1::WatchRequest& request) {
  if (stream.write_failed_at != absl::InfiniteFuture()) return false;
  if (stream.call->Write(request)) return true;
  stream.write_failed_at = options_.clock();
  return false;
}

void ControlPlaneSource::RecordRejection(const std::string& what, const absl::Status& why) {
  Update([&](Status& s) {
    ++s.updates_rejected;
    s.last_error = absl::StrCat(what, ": ", why.message());
  });
  if (options_.metrics != nullptr) options_.metrics->OnIdentityUpdateRejected(kSource);
  log::LogEvent(Level::kError, kLogger, absl::StrCat(what, "; the running SVID stays"),
                {{"error", Message(why)}});
}

void ControlPlaneSource::CheckExpiry() {
  const credentials::CredentialStore::Snapshot snapshot = options_.store->Current();
  const absl::Time now = options_.clock();
  if (snapshot == nullptr || snapshot->not_after > now) return;
  if (now - last_expired_log_ < options_.expired_log_interval) return;
  last_expired_log_ = now;
  Status status;
  Update([&](Status& s) {
    ++s.expired_warnings;
    status = s;
  });
  log::LogEvent(Level::kError, kLogger,
                "this proxy's SVID has expired and the control plane has not renewed it: new "
                "connections are refused until it does",
                {{"serial", snapshot->serial},
                 {"expired_at", Rfc3339(snapshot->not_after)},
                 {"control_plane_connected", status.connected},
                 {"last_error", status.last_error}});
}

}  // namespace palisade::identity_client
