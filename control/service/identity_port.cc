#include "control/service/identity_port.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "identity/verify_reason.h"
#include "runtime/log/logging.h"
#include "runtime/status/status_macros.h"
#include "runtime/tls/context_setup.h"

namespace palisade::control::service {

absl::StatusOr<tls::TlsTerminator::Options> IdentityPort::Resolve(const Options& options) {
  if (options.refusal_log_burst == 0 || options.refusal_log_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the refusal log needs a burst and an interval above zero");
  }
  tls::TlsTerminator::Options terminator;
  terminator.listen = options.listen;
  terminator.backend = options.backend;
  terminator.client_certificates = tls::PeerCertificates::kOptional;
  terminator.expected_trust_domain = options.trust_domain;
  terminator.clock_skew = options.clock_skew;
  terminator.handshake_timeout = options.handshake_timeout;
  terminator.first_byte_timeout = options.first_byte_timeout;
  terminator.max_connections = options.max_connections;
  terminator.max_pending = options.max_pending;
  terminator.max_pending_per_source = options.max_pending_per_source;
  terminator.thread_name = "palisade-tls";
  terminator.clock = options.clock;
  // Resolve the zeros: the reserve and the per-source share follow the cap.
  const tls::TlsTerminator::Limits limits = tls::TlsTerminator::EffectiveLimits(terminator);
  terminator.max_connections = limits.max_connections;
  terminator.max_pending = limits.max_pending;
  terminator.reserved_for_svids =
      options.reserved_for_svids > 0 ? options.reserved_for_svids : limits.max_connections / 4;
  terminator.max_anonymous_per_source = options.max_anonymous_per_source > 0
                                            ? options.max_anonymous_per_source
                                            : std::max<size_t>(limits.max_connections / 8, 4);
  if (terminator.reserved_for_svids >= terminator.max_connections) {
    return absl::InvalidArgumentError(
        absl::StrCat("the connections reserved for SVIDs (", terminator.reserved_for_svids,
                     ") must be fewer than the connection cap (", terminator.max_connections,
                     "): bootstrap needs room too"));
  }
  if (terminator.max_pending_per_source == 0) {
    return absl::InvalidArgumentError("pending handshakes per source must be at least 1");
  }
  if (terminator.first_byte_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the first-byte timeout must be more than zero");
  }
  return terminator;
}

namespace {

// Every result of an identity-port handshake and every key of a suppressed
// refusal line, as the events below name them: to create them at zero.
void AddKnownHandshakeSeries(metrics::ControlMetrics* metrics) {
  std::vector<std::string> results = {"ok_no_certificate", "ok_svid"};
  std::vector<std::string> keys;
  for (const std::string& reason : tls::KnownHandshakeFailureReasons()) {
    results.push_back(reason);
    bool verification = false;
    for (identity::VerifyReason r : identity::kAllVerifyReasons) {
      if (identity::ReasonCode(r) == reason) verification = true;
    }
    keys.push_back(verification ? reason : absl::StrCat("handshake_", reason));
  }
  for (const std::string& reason : tls::TlsTerminator::KnownRefusalReasons()) {
    results.push_back(absl::StrCat("refused_", reason));
    keys.push_back(absl::StrCat("refused_", reason));
  }
  metrics->AddHandshakeSeries(results, keys);
}

}  // namespace

absl::StatusOr<std::unique_ptr<IdentityPort>> IdentityPort::Create(Options options,
                                                                   PeerTable* peers,
                                                                   metrics::ControlMetrics* metrics,
                                                                   AuditLog* audit) {
  std::unique_ptr<IdentityPort> port(new IdentityPort());
  port->metrics_ = metrics;
  if (metrics != nullptr) AddKnownHandshakeSeries(metrics);
  port->audit_ = audit;
  port->clock_ = options.clock;
  port->refusal_log_ = std::make_unique<LogRateLimiter>(
      LogRateLimiter::Options{options.refusal_log_burst, options.refusal_log_interval});

  ASSIGN_OR_RETURN(tls::TlsTerminator::Options terminator, Resolve(options));
  port->resolved_ = terminator;

  IdentityPort* raw = port.get();
  tls::TlsTerminator::Events events;
  events.on_handshake = [raw](const tls::HandshakeResult& result,
                              const net::SocketAddress& remote) {
    const std::string outcome =
        result.ok ? (result.peer.anonymous() ? "ok_no_certificate" : "ok_svid") : result.reason;
    if (raw->metrics_ != nullptr) raw->metrics_->OnHandshake(outcome);
    if (!result.ok) {
      // A certificate judged and refused is an identity decision: warn and
      // audit. A timeout or a protocol error (a scanner) is only noted.
      raw->LogRefusal(result.reason, result.detail, remote.ToString(), result.claimed_spiffe_id,
                      /*identity=*/!result.peer.ok());
    }
  };
  events.on_forward = [peers](const net::SocketAddress& forwarder, const verify::PeerVerdict& peer,
                              const net::SocketAddress& remote) {
    PeerIdentity identity;
    if (peer.svid.has_value()) {
      identity.spiffe_id = peer.svid->spiffe_id;
      identity.serial = peer.svid->leaf_serial;
      identity.root_fingerprint = peer.svid->root_fingerprint;
      identity.not_after = peer.svid->leaf_not_after;
    }
    identity.remote_address = remote.ToString();
    peers->Add(PeerTable::KeyFor(forwarder), std::move(identity));
  };
  events.on_forward_end = [peers](const net::SocketAddress& forwarder) {
    peers->Remove(PeerTable::KeyFor(forwarder));
  };
  events.on_refused = [raw](absl::string_view reason) {
    if (raw->metrics_ != nullptr) raw->metrics_->OnHandshake(absl::StrCat("refused_", reason));
    // Capacity, not identity: logged at the same bounded rate, not audited.
    const std::string key = absl::StrCat("refused_", reason);
    if (raw->refusal_log_->Admit(key, raw->clock_())) {
      log::LogEvent(log::Level::kWarn, "control", "identity port closed a connection unserved",
                    {{"reason", std::string(reason)}});
    } else if (raw->metrics_ != nullptr) {
      raw->metrics_->OnRefusalLogSuppressed(key);
    }
  };

  absl::StatusOr<std::unique_ptr<tls::TlsTerminator>> created =
      tls::TlsTerminator::Create(std::move(terminator), std::move(events));
  if (!created.ok()) {
    return absl::Status(created.status().code(),
                        absl::StrCat("identity port ", options.listen.ToString(), ": ",
                                     created.status().message()));
  }
  port->terminator_ = *std::move(created);
  return port;
}

void IdentityPort::LogRefusal(const std::string& reason, const std::string& detail,
                              const std::string& remote, const std::string& claimed_spiffe_id,
                              bool identity) {
  const absl::Time now = clock_();
  FlushRefusalLog(now);
  // Keys: a verification reason as is; "handshake_<reason>" for the rest.
  const std::string key = identity ? reason : absl::StrCat("handshake_", reason);
  if (!refusal_log_->Admit(key, now)) {
    if (metrics_ != nullptr) metrics_->OnRefusalLogSuppressed(key);
    return;
  }
  log::LogEvent(identity ? log::Level::kWarn : log::Level::kInfo, "control",
                "identity port refused a TLS client",
                {{"reason", reason},
                 {"remote", remote},
                 {"claimed_spiffe_id", claimed_spiffe_id},
                 {"detail", detail}});
  if (audit_ != nullptr && identity) {
    AuditEvent event;
    event.time = now;
    event.event = "refused";
    event.spiffe_id = claimed_spiffe_id;
    event.result = "UNAUTHENTICATED";
    event.reason = absl::StrCat("tls_", reason);
    event.detail = detail;
    event.peer = "tls_handshake";
    event.remote = remote;
    audit_->Record(event);
  }
}

void IdentityPort::FlushRefusalLog(absl::Time now) {
  for (const auto& [reason, count] : refusal_log_->TakeSuppressed(now)) {
    log::LogEvent(log::Level::kWarn, "control",
                  absl::StartsWith(reason, "refused_")
                      ? "identity port: connections closed unserved not logged"
                      : "identity port: TLS refusals not logged",
                  {{"reason", reason}, {"count", count}});
    // Audited as the lines it stands for were.
    if (audit_ != nullptr && !absl::StartsWith(reason, "refused_") &&
        !absl::StartsWith(reason, "handshake_")) {
      AuditEvent event;
      event.time = now;
      event.event = "refused";
      event.result = "UNAUTHENTICATED";
      event.reason = absl::StrCat("tls_", reason);
      event.detail =
          absl::StrCat(count, " more refusals for this reason were not recorded (rate limit)");
      event.suppressed = count;
      event.summary = true;
      event.peer = "tls_handshake";
      audit_->Record(event);
    }
  }
}

absl::Status IdentityPort::SetCredentials(const std::vector<X509*>& chain, EVP_PKEY* key,
                                          identity::TrustBundleSet bundles) {
  tls::ContextOptions context;
  context.role = tls::Role::kServer;
  context.chain = chain;
  context.key = key;
  context.peer_certificates = tls::PeerCertificates::kOptional;
  auto credentials = std::make_shared<tls::TlsTerminator::Credentials>();
  ASSIGN_OR_RETURN(credentials->context, tls::NewContext(context));
  credentials->bundles = std::move(bundles);
  terminator_->SetCredentials(std::move(credentials));
  return absl::OkStatus();
}

}  // namespace palisade::control::service
