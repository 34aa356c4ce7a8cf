#include "control/metrics/control_metrics.h"

#include <prometheus/text_serializer.h>

#include <sstream>
#include <vector>

#include "runtime/metrics/process_metrics.h"

namespace palisade::control::metrics {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

constexpr const char* kPhases[] = {"idle", "propagating", "rekeying", "retiring"};

// Every reason an identity stream or request is refused with (the
// auth::Refusal reasons of control/service/identity_service.cc,
// control/auth/join_token_store.cc, control/auth/service_account_verifier.cc
// and control/service/issuance_limiter.h), at 0 from the start. A reason
// added there and not here still counts, from its first refusal on.
constexpr const char* kRefusalReasons[] = {
    // identity_service.cc
    "bootstrap_already_issued", "csr_timeout", "deregistered", "duplicate_hello", "hello_timeout",
    "issuance_failed", "malformed_csr", "malformed_hello", "malformed_report", "message_too_large",
    "no_credential", "no_hello", "service_account_not_configured", "svid_expired", "token_revoked",
    "unauthenticated_transport", "unknown_message", "wrong_identity", "wrong_trust_domain",
    // issuance_limiter.h
    "issuance_rate_limited", "unexpired_certificates_cap",
    // join_token_store.cc
    "join_token_revoked", "join_token_expired", "join_token_used", "join_token_unknown",
    "reattestation_token_revoked", "reattestation_token_expired", "reattestation_token_used",
    "reattestation_token_unknown",
    // service_account_verifier.cc
    "token_malformed", "token_bad_signature", "token_unsupported_algorithm", "token_unknown_key",
    "token_wrong_issuer", "token_wrong_audience", "token_expired", "token_not_yet_valid",
    "token_bad_subject"};

// The results of a JWKS fetch from the issuer (auth::kIssuerFetchResults in
// control/auth/issuer_key_fetcher.h), at 0 from the start.
constexpr const char* kJwksRefreshResults[] = {"ok",           "tls_error",       "network_error",
                                               "http_error",   "malformed",       "no_keys",
                                               "wrong_issuer", "token_file_error"};

}  // namespace

ControlMetrics::ControlMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      issued_(BuildCounter()
                  .Name("palisade_control_certificates_issued_total")
                  .Help("X.509-SVIDs issued, by kind (bootstrap, renewal, self)")
                  .Register(*registry_)),
      refusals_(BuildCounter()
                    .Name("palisade_control_refusals_total")
                    .Help("Streams or requests refused, by reason")
                    .Register(*registry_)),
      streams_(BuildGauge()
                   .Name("palisade_control_streams_connected")
                   .Help("Identity streams open now")
                   .Register(*registry_)
                   .Add({})),
      bundle_version_(BuildGauge()
                          .Name("palisade_control_bundle_version")
                          .Help("Version of the trust bundle pushed to proxies")
                          .Register(*registry_)
                          .Add({})),
      bundle_roots_(BuildGauge()
                        .Name("palisade_control_bundle_roots")
                        .Help("Roots in the trust bundle")
                        .Register(*registry_)
                        .Add({})),
      rollover_phase_(BuildGauge()
                          .Name("palisade_control_rollover_phase")
                          .Help("1 for the current root rollover phase")
                          .Register(*registry_)),
      rollover_waiting_(BuildGauge()
                            .Name("palisade_control_rollover_waiting_on_proxies")
                            .Help("Proxies the current rollover phase waits for")
                            .Register(*registry_)
                            .Add({})),
      issuance_seconds_(
          BuildHistogram()
              .Name("palisade_control_issuance_duration_seconds")
              .Help("Time to check a CSR and sign its SVID")
              .Register(*registry_)
              .Add({},
                   prometheus::Histogram::BucketBoundaries{0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                           0.005, 0.01, 0.025, 0.05, 0.1, 0.25})),
      handshakes_(BuildCounter()
                      .Name("palisade_control_tls_handshakes_total")
                      .Help("TLS handshakes on the identity port, by result")
                      .Register(*registry_)),
      refusal_log_suppressed_(
          BuildCounter()
              .Name("palisade_control_tls_refusal_log_suppressed_total")
              .Help("Identity-port refusals not written to the log and audit log (rate limit), "
                    "by reason")
              .Register(*registry_)),
      serving_expiry_(BuildGauge()
                          .Name("palisade_control_serving_svid_expiry_timestamp_seconds")
                          .Help("notAfter of the control plane's own serving SVID, Unix time")
                          .Register(*registry_)
                          .Add({})),
      ca_expiry_(BuildGauge()
                     .Name("palisade_control_ca_expiry_timestamp_seconds")
                     .Help("Earliest notAfter of the issuing chain (intermediate up to its "
                           "root), Unix time: no SVID can outlive it")
                     .Register(*registry_)
                     .Add({})),
      bundle_expiry_(BuildGauge()
                         .Name("palisade_control_bundle_expiry_timestamp_seconds")
                         .Help("Earliest notAfter among the trust bundle's roots, Unix time")
                         .Register(*registry_)
                         .Add({})),
      deny_list_entries_(BuildGauge()
                             .Name("palisade_control_deny_list_entries")
                             .Help("Identities on the deny-list pushed to every proxy (revoked "
                                   "until their last certificate expires)")
                             .Register(*registry_)
                             .Add({})),
      jwks_loads_(BuildCounter()
                      .Name("palisade_control_jwks_loads_total")
                      .Help("Loads of the service-account JWKS file, by result (accepted, "
                            "refused: the keys in use stayed)")
                      .Register(*registry_)),
      jwks_keys_(BuildGauge()
                     .Name("palisade_control_jwks_keys")
                     .Help("Service-account token keys in use")
                     .Register(*registry_)
                     .Add({})),
      ca_reload_failures_(BuildCounter()
                              .Name("palisade_control_ca_reload_failures_total")
                              .Help("Shared CA records (--store=etcd) this replica refused to "
                                    "reload (malformed, wrong KEK, deleted), by key; the CA it "
                                    "held stayed")
                              .Register(*registry_)),
      jwks_refreshes_(BuildCounter()
                          .Name("palisade_control_jwks_refreshes_total")
                          .Help("Fetches of the service-account JWKS from the issuer "
                                "(--sa_issuer_discovery), by result (ok; anything else: the "
                                "keys in use stayed)")
                          .Register(*registry_)),
      jwks_unknown_key_(BuildCounter()
                            .Name("palisade_control_jwks_unknown_key_refreshes_total")
                            .Help("Tokens naming a key the JWKS lacks, by outcome (requested: "
                                  "a refresh was asked for; rate_limited: one was recent)")
                            .Register(*registry_)),
      jwks_age_(BuildGauge()
                    .Name("palisade_control_jwks_age_seconds")
                    .Help("Time since the service-account keys in use were last fetched from "
                          "the issuer (only with --sa_issuer_discovery)")
                    .Register(*registry_)),
      admin_cap_reached_(BuildCounter()
                             .Name("palisade_control_admin_connection_cap_reached_total")
                             .Help("Times an admin HTTP server stopped accepting at its "
                                   "connection cap, by server (admin, public)")
                             .Register(*registry_)),
      admin_closed_(BuildCounter()
                        .Name("palisade_control_admin_connections_closed_total")
                        .Help("Admin HTTP connections the server closed, by server and reason "
                              "(request_deadline: the request was not read in time)")
                        .Register(*registry_)),
      leader_(BuildGauge()
                  .Name("palisade_control_leader")
                  .Help("1 while this replica leads (takes rollover steps and renews the "
                        "intermediate; always 1 on the file store), else 0")
                  .Register(*registry_)
                  .Add({})),
      leader_changes_(BuildCounter()
                          .Name("palisade_control_leader_changes_total")
                          .Help("Times this replica became leader or stopped leading")
                          .Register(*registry_)
                          .Add({})),
      etcd_tls_failures_(BuildCounter()
                             .Name("palisade_control_etcd_tls_failures_total")
                             .Help("TLS connections to etcd that failed (--etcd_ca_file), by "
                                   "endpoint and reason")
                             .Register(*registry_)) {
  // Series that exist from the start at 0, so increase() sees their first event.
  for (const char* kind : {"bootstrap", "renewal", "self"}) issued_.Add({{"kind", kind}});
  for (const char* result : {"accepted", "refused"}) jwks_loads_.Add({{"result", result}});
  for (const char* result : kJwksRefreshResults) jwks_refreshes_.Add({{"result", result}});
  for (const char* outcome : {"requested", "rate_limited"}) {
    jwks_unknown_key_.Add({{"outcome", outcome}});
  }
  for (const char* reason : kRefusalReasons) refusals_.Add({{"reason", reason}});
  SetRollover("idle", 0);
  palisade::metrics::AddBuildInfo(*registry_);
  admin_cap_reached_.Add({{"server", "admin"}});
  admin_closed_.Add({{"server", "admin"}, {"reason", "request_deadline"}});
}

void ControlMetrics::OnIssued(const std::string& kind, absl::Duration latency) {
  issued_.Add({{"kind", kind}}).Increment();
  issuance_seconds_.Observe(absl::ToDoubleSeconds(latency));
}

void ControlMetrics::OnRefused(const std::string& reason) {
  refusals_.Add({{"reason", reason}}).Increment();
}

void ControlMetrics::SetStreams(int64_t connected) { streams_.Set(static_cast<double>(connected)); }

void ControlMetrics::SetBundle(uint64_t version, size_t roots) {
  bundle_version_.Set(static_cast<double>(version));
  bundle_roots_.Set(static_cast<double>(roots));
}

void ControlMetrics::SetRollover(const std::string& phase, size_t waiting_on) {
  for (const char* p : kPhases) rollover_phase_.Add({{"phase", p}}).Set(phase == p ? 1 : 0);
  rollover_waiting_.Set(static_cast<double>(waiting_on));
}

void ControlMetrics::OnHandshake(const std::string& result) {
  handshakes_.Add({{"result", result}}).Increment();
}

void ControlMetrics::AddHandshakeSeries(const std::vector<std::string>& results,
                                        const std::vector<std::string>& suppressed_keys) {
  for (const std::string& result : results) handshakes_.Add({{"result", result}});
  for (const std::string& key : suppressed_keys) refusal_log_suppressed_.Add({{"reason", key}});
}

void ControlMetrics::OnRefusalLogSuppressed(const std::string& reason) {
  refusal_log_suppressed_.Add({{"reason", reason}}).Increment();
}

void ControlMetrics::SetServingSvidExpiry(absl::Time not_after) {
  serving_expiry_.Set(absl::ToDoubleSeconds(not_after - absl::UnixEpoch()));
}

void ControlMetrics::SetCaExpiry(absl::Time issuing_chain_not_after,
                                 absl::Time earliest_root_not_after) {
  ca_expiry_.Set(absl::ToDoubleSeconds(issuing_chain_not_after - absl::UnixEpoch()));
  bundle_expiry_.Set(absl::ToDoubleSeconds(earliest_root_not_after - absl::UnixEpoch()));
}

void ControlMetrics::SetLeader(bool leader, uint64_t changes) {
  leader_.Set(leader ? 1 : 0);
  const uint64_t seen = leader_changes_seen_.exchange(changes);
  if (changes > seen) leader_changes_.Increment(static_cast<double>(changes - seen));
}

void ControlMetrics::SetEtcdTlsFailures(
    const std::map<std::pair<std::string, std::string>, uint64_t>& totals) {
  sync::MutexLock lock(&etcd_tls_mu_);
  for (const auto& [key, total] : totals) {
    uint64_t& seen = etcd_tls_seen_[key];
    prometheus::Counter& counter =
        etcd_tls_failures_.Add({{"endpoint", key.first}, {"reason", key.second}});
    if (total > seen) counter.Increment(static_cast<double>(total - seen));
    seen = total;
  }
}

void ControlMetrics::SetDenyList(size_t entries) {
  deny_list_entries_.Set(static_cast<double>(entries));
}

void ControlMetrics::OnJwksLoad(bool accepted, size_t keys) {
  jwks_loads_.Add({{"result", accepted ? "accepted" : "refused"}}).Increment();
  if (accepted) jwks_keys_.Set(static_cast<double>(keys));
}

void ControlMetrics::OnCaReloadFailure(const std::string& key) {
  ca_reload_failures_.Add({{"key", key}}).Increment();
}

void ControlMetrics::OnJwksRefresh(const std::string& result, size_t keys) {
  jwks_refreshes_.Add({{"result", result}}).Increment();
  jwks_keys_.Set(static_cast<double>(keys));
}

void ControlMetrics::OnUnknownKeyRefresh(bool requested) {
  jwks_unknown_key_.Add({{"outcome", requested ? "requested" : "rate_limited"}}).Increment();
}

void ControlMetrics::SetJwksAge(absl::Duration age) {
  jwks_age_.Add({}).Set(absl::ToDoubleSeconds(age));
}

void ControlMetrics::OnAdminCapReached(const std::string& server) {
  admin_cap_reached_.Add({{"server", server}}).Increment();
}

void ControlMetrics::OnAdminRequestDeadlineClosed(const std::string& server) {
  admin_closed_.Add({{"server", server}, {"reason", "request_deadline"}}).Increment();
}

std::string ControlMetrics::Serialize() {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  for (prometheus::MetricFamily& f : palisade::metrics::ProcessCollector().Collect()) {
    families.push_back(std::move(f));
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace palisade::control::metrics
