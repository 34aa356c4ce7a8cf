#include "proxy/metrics/proxy_metrics.h"

#include <prometheus/text_serializer.h>

#include <atomic>
#include <vector>

#include "absl/strings/str_cat.h"
#include "proxy/metrics/close_reason.h"
#include "runtime/metrics/process_metrics.h"

namespace palisade::metrics {
namespace {

std::atomic<uint64_t> next_instance{1};

int DirectionIndex(const forward::ListenerContext& l) {
  return l.direction == forward::Direction::kInbound ? 0 : 1;
}

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Labels;

const char* Dir(const forward::ListenerContext& l) { return forward::DirectionName(l.direction); }

double Seconds(absl::Time t) { return absl::ToDoubleSeconds(t - absl::UnixEpoch()); }

}  // namespace

ProxyMetrics::ProxyMetrics(size_t max_peer_identities)
    : registry_(std::make_shared<prometheus::Registry>()),
      peer_labels_(max_peer_identities),
      handshakes_(BuildCounter()
                      .Name("palisade_handshakes_total")
                      .Help("mTLS handshakes by direction, listener, result, reason and peer "
                            "SPIFFE ID (on success and on authorization failure)")
                      .Register(*registry_)),
      handshake_seconds_(BuildHistogram()
                             .Name("palisade_handshake_duration_seconds")
                             .Help("Time from the first TLS byte to a verified peer")
                             .Register(*registry_)),
      resumed_(BuildCounter()
                   .Name("palisade_handshakes_resumed_total")
                   .Help("Successful handshakes that resumed a TLS session")
                   .Register(*registry_)),
      peer_identities_folded_(BuildCounter()
                                  .Name("palisade_peer_identities_folded_total")
                                  .Help("Observations whose peer_identity label was folded into "
                                        "\"other\" by the cardinality cap")
                                  .Register(*registry_)
                                  .Add({})),
      peer_identities_(BuildGauge()
                           .Name("palisade_peer_identities")
                           .Help("Distinct peer SPIFFE IDs that have a peer_identity label of "
                                 "their own (at most metrics.max_peer_identities)")
                           .Register(*registry_)
                           .Add({})),
      authz_denials_(BuildCounter()
                         .Name("palisade_authorization_denials_total")
                         .Help("Peers refused by the authorization policy, by peer SPIFFE ID")
                         .Register(*registry_)),
      revoked_peers_(BuildCounter()
                         .Name("palisade_revoked_peer_connections_total")
                         .Help("Connections with a peer on the control plane's deny-list, by "
                               "stage: refused at the handshake, or established and closed "
                               "gracefully when the list arrived")
                         .Register(*registry_)),
      connections_active_(BuildGauge()
                              .Name("palisade_connections_active")
                              .Help("Connections open now")
                              .Register(*registry_)),
      connections_total_(BuildCounter()
                             .Name("palisade_connections_total")
                             .Help("Connections accepted")
                             .Register(*registry_)),
      connections_refused_(BuildCounter()
                               .Name("palisade_connections_refused_total")
                               .Help("Connections refused at accept (e.g. max_connections)")
                               .Register(*registry_)),
      connection_errors_(
          BuildCounter()
              .Name("palisade_connection_errors_total")
              .Help("Connections that ended other than cleanly, by reason (connect_refused, "
                    "reset, idle_timeout, drained...) and side; failed "
                    "handshakes count in palisade_handshakes_total instead")
              .Register(*registry_)),
      connection_resets_(
          BuildCounter()
              .Name("palisade_connection_resets_total")
              .Help("Connections the proxy ended with a reset to both peers, by close reason: "
                    "an error after bytes flowed, or a graceful close that ran out of time. "
                    "Bytes in flight may have been lost; the peers were told so")
              .Register(*registry_)),
      bytes_received_(BuildCounter()
                          .Name("palisade_received_bytes_total")
                          .Help("Bytes received from the downstream side and forwarded")
                          .Register(*registry_)),
      bytes_sent_(BuildCounter()
                      .Name("palisade_sent_bytes_total")
                      .Help("Bytes from the upstream side forwarded to the downstream side")
                      .Register(*registry_)),
      access_log_suppressed_(
          BuildCounter()
              .Name("palisade_access_log_suppressed_total")
              .Help("Access-log lines held back by the rate limit on connections that never "
                    "finished a handshake (refused, failed, evicted), by close reason")
              .Register(*registry_)),
      svid_not_after_(BuildGauge()
                          .Name("palisade_svid_expiry_timestamp_seconds")
                          .Help("notAfter of the current SVID leaf, Unix time")
                          .Register(*registry_)
                          .Add({})),
      svid_lifetime_(BuildGauge()
                         .Name("palisade_svid_lifetime_seconds")
                         .Help("notAfter - notBefore of the current SVID leaf: with "
                               "palisade_svid_expires_in_seconds, the fraction of its life left")
                         .Register(*registry_)
                         .Add({})),
      svid_expires_in_(BuildGauge()
                           .Name("palisade_svid_expires_in_seconds")
                           .Help("Seconds until the current SVID leaf expires")
                           .Register(*registry_)
                           .Add({})),
      identity_loss_in_(BuildGauge()
                            .Name("palisade_identity_loss_in_seconds")
                            .Help("Seconds until the earliest expiry along the SVID's chain "
                                  "(leaf, intermediates, root): when this proxy loses its "
                                  "identity unless it renews")
                            .Register(*registry_)
                            .Add({})),
      svid_info_(BuildGauge()
                     .Name("palisade_svid_info")
                     .Help("The current SVID: its SPIFFE ID, serial and source (files, "
                           "control-plane) as labels; always 1")
                     .Register(*registry_)),
      rotations_(BuildCounter()
                     .Name("palisade_svid_rotations_total")
                     .Help("SVIDs installed after the first one")
                     .Register(*registry_)
                     .Add({})),
      updates_rejected_(BuildCounter()
                            .Name("palisade_identity_updates_rejected_total")
                            .Help("Credential updates refused (the running one stayed)")
                            .Register(*registry_)),
      bundle_roots_(BuildGauge()
                        .Name("palisade_trust_bundle_roots")
                        .Help("Root certificates in the trust bundle, by trust domain")
                        .Register(*registry_)),
      bundle_updated_(BuildGauge()
                          .Name("palisade_trust_bundle_last_update_timestamp_seconds")
                          .Help("When the set of trusted roots last changed, Unix time")
                          .Register(*registry_)
                          .Add({})),
      bundle_missing_domains_(BuildGauge()
                                  .Name("palisade_trust_bundle_missing_domains")
                                  .Help("Federated trust domains the configuration lists that "
                                        "the control plane sent no bundle for (their peers are "
                                        "refused)")
                                  .Register(*registry_)
                                  .Add({})),
      deny_list_entries_(BuildGauge()
                             .Name("palisade_deny_list_entries")
                             .Help("Identities on the control plane's deny-list this proxy "
                                   "enforces")
                             .Register(*registry_)
                             .Add({})),
      deny_list_version_(BuildGauge()
                             .Name("palisade_deny_list_version")
                             .Help("Version of the deny-list this proxy enforces (0: none yet)")
                             .Register(*registry_)
                             .Add({})),
      control_connected_(BuildGauge()
                             .Name("palisade_identity_client_connected")
                             .Help("1 while the watch stream to palisade-control is up")
                             .Register(*registry_)
                             .Add({})),
      control_reconnects_(BuildCounter()
                              .Name("palisade_identity_client_reconnects_total")
                              .Help("Watch streams opened after the first")
                              .Register(*registry_)
                              .Add({})),
      control_failovers_(BuildCounter()
                             .Name("palisade_identity_client_failovers_total")
                             .Help("Watch streams opened on another control-plane replica than "
                                   "the stream before")
                             .Register(*registry_)
                             .Add({})),
      control_address_(BuildGauge()
                           .Name("palisade_identity_client_control_plane")
                           .Help("1 for the control-plane replica (address, host:port) of the "
                                 "current or last watch stream")
                           .Register(*registry_)),
      last_renewal_(BuildGauge()
                        .Name("palisade_identity_client_last_renewal_timestamp_seconds")
                        .Help("When the last SVID renewal succeeded, Unix time")
                        .Register(*registry_)
                        .Add({})),
      reattestation_writes_(BuildCounter()
                                .Name("palisade_reattestation_token_writes_total")
                                .Help("Re-attestation tokens from the control plane written to "
                                      "reattestation_token_file, by result (ok, failed)")
                                .Register(*registry_)),
      admin_cap_reached_(BuildCounter()
                             .Name("palisade_admin_connection_cap_reached_total")
                             .Help("Times an admin HTTP server stopped accepting at its "
                                   "connection cap, by server (admin, public)")
                             .Register(*registry_)),
      admin_closed_(BuildCounter()
                        .Name("palisade_admin_connections_closed_total")
                        .Help("Admin HTTP connections the server closed, by server and reason "
                              "(request_deadline: the request was not read in time)")
                        .Register(*registry_)),
      gateway_trust_reloads_(BuildCounter()
                                 .Name("palisade_gateway_trust_reloads_total")
                                 .Help("Gateway listeners' trust store and CRL file reloads, by "
                                       "listener and result (ok; refused: the running one stayed)")
                                 .Register(*registry_)),
      ready_(BuildGauge()
                 .Name("palisade_ready")
                 .Help("1 when an SVID is loaded, listeners are bound and not draining")
                 .Register(*registry_)
                 .Add({})),
      config_reloads_(BuildCounter()
                          .Name("palisade_config_reloads_total")
                          .Help("Configuration reloads (SIGHUP, POST /reload) by result: ok, "
                                "invalid (the file does not load), requires_restart (it changes "
                                "more than listeners), failed (e.g. a listener cannot bind)")
                          .Register(*registry_)),
      config_last_success_(BuildGauge()
                               .Name("palisade_config_last_reload_success_timestamp_seconds")
                               .Help("When the configuration last loaded (the start, or the "
                                     "last reload that applied), Unix time")
                               .Register(*registry_)
                               .Add({})),
      config_last_successful_(BuildGauge()
                                  .Name("palisade_config_last_reload_successful")
                                  .Help("1 when the last reload applied (or none was tried), 0 "
                                        "when it was refused and the file differs from what runs")
                                  .Register(*registry_)
                                  .Add({})),
      instance_(next_instance.fetch_add(1)) {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  for (int d = 0; d < 2; ++d) {
    const char* direction = d == 0 ? "inbound" : "outbound";
    for (int m = 0; m < 2; ++m) {
      handshake_histograms_[d][m] = &handshake_seconds_.Add(
          {{"direction", direction}, {"mode", m == 0 ? "full" : "resumed"}}, kBuckets);
    }
    resumed_by_direction_[d] = &resumed_.Add({{"direction", direction}});
  }
  for (const char* result : {"ok", "failed"}) reattestation_writes_.Add({{"result", result}});
  admin_cap_reached_.Add({{"server", "admin"}});
  admin_closed_.Add({{"server", "admin"}, {"reason", "request_deadline"}});
  AddBuildInfo(*registry_);
  for (const char* result : kConfigReloadResults) config_reloads_.Add({{"result", result}});
  config_last_success_.Set(absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()));
  config_last_successful_.Set(1);
}

std::string ProxyMetrics::PeerLabel(const std::string& peer_id) {
  // No peer yet (the handshake failed before one was verified): "none", as an
  // empty label value reads as a missing label.
  if (peer_id.empty()) return "none";
  ThreadCache& cache = Cache();
  if (auto it = cache.peer_labels.find(peer_id); it != cache.peer_labels.end()) return it->second;
  bool folded = false;
  std::string label = peer_labels_.Label(peer_id, &folded);
  if (folded) {
    peer_identities_folded_.Increment();
  } else {
    // Decisions never change once made, and at most the cap are cached.
    cache.peer_labels.emplace(peer_id, label);
  }
  return label;
}

void ProxyMetrics::AddListener(const std::string& name, forward::Direction direction) {
  const std::string dir = forward::DirectionName(direction);
  const Labels labels{{"direction", dir}, {"listener", name}};
  connections_total_.Add(labels);
  connections_active_.Add(labels);
  bytes_received_.Add(labels);
  bytes_sent_.Add(labels);
  // What the worker refuses at accept (proxy/server/worker.cc).
  static const char* const kRefusals[] = {"max_connections", "fd_limit", "identity_expired"};
  for (const char* reason : kRefusals) {
    connections_refused_.Add({{"direction", dir}, {"listener", name}, {"reason", reason}});
    access_log_suppressed_.Add({{"direction", dir}, {"listener", name}, {"reason", reason}});
  }
  // A connection that never finished its handshake: refused above, failed,
  // or closed while pending.
  for (const std::string& reason : forward::KnownHandshakeFailureReasons()) {
    access_log_suppressed_.Add({{"direction", dir}, {"listener", name}, {"reason", reason}});
    // not_authorized carries the refused peer's identity, not knowable yet.
    if (reason == "not_authorized") continue;
    handshakes_.Add({{"direction", dir},
                     {"listener", name},
                     {"result", "failure"},
                     {"reason", reason},
                     {"peer_identity", "none"}});
  }
  for (const char* reason : {"pending_evicted", "drained"}) {
    access_log_suppressed_.Add({{"direction", dir}, {"listener", name}, {"reason", reason}});
  }
  for (const char* stage : {"handshake", "established"}) {
    revoked_peers_.Add({{"direction", dir}, {"listener", name}, {"stage", stage}});
  }
  for (const ConnectionError& e : KnownConnectionErrors()) {
    connection_errors_.Add(
        {{"direction", dir}, {"listener", name}, {"reason", e.reason}, {"side", e.side}});
  }
}

ProxyMetrics::ThreadCache& ProxyMetrics::Cache() {
  thread_local absl::flat_hash_map<uint64_t, std::unique_ptr<ThreadCache>> caches;
  std::unique_ptr<ThreadCache>& cache = caches[instance_];
  if (cache == nullptr) cache = std::make_unique<ThreadCache>();
  return *cache;
}

const ProxyMetrics::ListenerSeries& ProxyMetrics::SeriesFor(
    const forward::ListenerContext& listener) {
  ThreadCache& cache = Cache();
  auto it = cache.listeners.find(&listener);
  if (it != cache.listeners.end()) return it->second;
  const Labels labels{{"direction", Dir(listener)}, {"listener", listener.name}};
  ListenerSeries series{&connections_total_.Add(labels), &connections_active_.Add(labels),
                        &bytes_received_.Add(labels), &bytes_sent_.Add(labels)};
  return cache.listeners.emplace(&listener, series).first->second;
}

prometheus::Counter& ProxyMetrics::CounterFor(
    prometheus::Family<prometheus::Counter>& family, const forward::ListenerContext& listener,
    std::initializer_list<std::pair<const char*, std::string>> labels) {
  std::string key = absl::StrCat(reinterpret_cast<uintptr_t>(&family), "\x1f",
                                 reinterpret_cast<uintptr_t>(&listener));
  for (const auto& [name, value] : labels) absl::StrAppend(&key, "\x1f", value);
  ThreadCache& cache = Cache();
  auto it = cache.counters.find(key);
  if (it == cache.counters.end()) {
    Labels full{{"direction", Dir(listener)}, {"listener", listener.name}};
    for (const auto& [name, value] : labels) full.emplace(name, value);
    it = cache.counters.emplace(std::move(key), &family.Add(full)).first;
  }
  return *it->second;
}

void ProxyMetrics::OnAccepted(const forward::ListenerContext& listener) {
  const ListenerSeries& series = SeriesFor(listener);
  series.total->Increment();
  series.active->Increment();
}

void ProxyMetrics::OnRefused(const forward::ListenerContext& listener, const std::string& reason) {
  CounterFor(connections_refused_, listener, {{"reason", reason}}).Increment();
}

void ProxyMetrics::OnHandshake(const forward::ListenerContext& listener,
                               const forward::HandshakeOutcome& outcome) {
  const std::string peer = PeerLabel(outcome.peer_id);
  CounterFor(handshakes_, listener,
             {{"result", outcome.ok ? "success" : "failure"},
              {"reason", outcome.reason},
              {"peer_identity", peer}})
      .Increment();
  if (outcome.ok) {
    const int d = DirectionIndex(listener);
    handshake_histograms_[d][outcome.resumed ? 1 : 0]->Observe(
        absl::ToDoubleSeconds(outcome.duration));
    if (outcome.resumed) resumed_by_direction_[d]->Increment();
  } else if (outcome.reason == "not_authorized") {
    CounterFor(authz_denials_, listener, {{"peer_identity", peer}}).Increment();
  } else if (outcome.reason == "revoked") {
    CounterFor(revoked_peers_, listener, {{"stage", "handshake"}}).Increment();
  }
}

void ProxyMetrics::OnClosed(const forward::ListenerContext& listener,
                            const forward::ConnectionSummary& summary) {
  const ListenerSeries& series = SeriesFor(listener);
  series.active->Decrement();
  if (summary.bytes_from_downstream > 0) {
    series.bytes_received->Increment(static_cast<double>(summary.bytes_from_downstream));
  }
  if (summary.bytes_from_upstream > 0) {
    series.bytes_sent->Increment(static_cast<double>(summary.bytes_from_upstream));
  }
  if (summary.reset) {
    CounterFor(connection_resets_, listener, {{"reason", summary.close_reason}}).Increment();
  }
  // A failed handshake was counted by OnHandshake, with its own reason.
  if (summary.handshake_failed) return;
  if (summary.close_reason == "revoked") {
    CounterFor(revoked_peers_, listener, {{"stage", "established"}}).Increment();
  }
  const ConnectionError error = ClassifyCloseReason(summary.close_reason);
  if (error.reason.empty()) return;
  CounterFor(connection_errors_, listener, {{"reason", error.reason}, {"side", error.side}})
      .Increment();
}

void ProxyMetrics::OnAccessLogSuppressed(const forward::ListenerContext& listener,
                                         const std::string& reason) {
  CounterFor(access_log_suppressed_, listener, {{"reason", reason}}).Increment();
}

void ProxyMetrics::OnSnapshot(const credentials::CredentialSnapshot& snapshot) {
  updates_rejected_.Add({{"source", snapshot.source}});  // at zero until one is
  sync::MutexLock lock(&mutex_);
  if (has_snapshot_ && snapshot.serial != serial_) rotations_.Increment();
  serial_ = snapshot.serial;
  if (current_info_ != nullptr) svid_info_.Remove(current_info_);
  current_info_ = &svid_info_.Add({{"spiffe_id", snapshot.spiffe_id.ToString()},
                                   {"serial", snapshot.serial},
                                   {"source", snapshot.source}});
  current_info_->Set(1);
  has_snapshot_ = true;
  not_after_ = snapshot.not_after;
  chain_not_after_ = snapshot.chain_not_after;
  svid_not_after_.Set(Seconds(snapshot.not_after));
  svid_lifetime_.Set(absl::ToDoubleSeconds(snapshot.not_after - snapshot.not_before));
  deny_list_entries_.Set(
      snapshot.deny_list != nullptr ? static_cast<double>(snapshot.deny_list->size()) : 0);
  deny_list_version_.Set(
      snapshot.deny_list != nullptr ? static_cast<double>(snapshot.deny_list->version()) : 0);

  std::string bundle_key;
  absl::flat_hash_map<std::string, prometheus::Gauge*> roots;
  for (const auto& [domain, prints] : snapshot.bundles.Fingerprints()) {
    prometheus::Gauge& gauge = bundle_roots_.Add({{"trust_domain", domain}});
    gauge.Set(static_cast<double>(prints.size()));
    roots[domain] = &gauge;
    absl::StrAppend(&bundle_key, domain, ":");
    for (const auto& p : prints) absl::StrAppend(&bundle_key, p, ",");
  }
  // A trust domain that left the bundle leaves the metrics too.
  for (const auto& [domain, gauge] : bundle_root_gauges_) {
    if (!roots.contains(domain)) bundle_roots_.Remove(gauge);
  }
  bundle_root_gauges_ = std::move(roots);
  if (bundle_key != bundle_key_) {
    bundle_key_ = bundle_key;
    bundle_updated_.Set(Seconds(snapshot.loaded_at));
  }
}

void ProxyMetrics::OnIdentityUpdateRejected(const std::string& source) {
  updates_rejected_.Add({{"source", source}}).Increment();
}

void ProxyMetrics::AddGatewayListener(const std::string& listener) {
  for (const char* result : {"ok", "refused"}) {
    gateway_trust_reloads_.Add({{"listener", listener}, {"result", result}});
  }
}

void ProxyMetrics::OnGatewayTrustReload(const std::string& listener, bool ok) {
  gateway_trust_reloads_.Add({{"listener", listener}, {"result", ok ? "ok" : "refused"}})
      .Increment();
}

void ProxyMetrics::SetControlPlaneConnected(bool connected) {
  control_connected_.Set(connected ? 1 : 0);
}

void ProxyMetrics::SetMissingTrustDomains(size_t count) {
  bundle_missing_domains_.Set(static_cast<double>(count));
}

void ProxyMetrics::OnControlPlaneReconnect() { control_reconnects_.Increment(); }

void ProxyMetrics::OnControlPlaneFailover() { control_failovers_.Increment(); }

void ProxyMetrics::SetControlPlaneAddress(const std::string& address) {
  prometheus::Gauge& gauge = control_address_.Add({{"address", address}});
  if (control_address_gauge_ != nullptr && control_address_gauge_ != &gauge) {
    control_address_.Remove(control_address_gauge_);
  }
  control_address_gauge_ = &gauge;
  gauge.Set(1);
}

void ProxyMetrics::OnRenewal(absl::Time when) { last_renewal_.Set(Seconds(when)); }

void ProxyMetrics::OnReattestationTokenWrite(bool ok) {
  reattestation_writes_.Add({{"result", ok ? "ok" : "failed"}}).Increment();
}

void ProxyMetrics::OnAdminCapReached(const std::string& server) {
  admin_cap_reached_.Add({{"server", server}}).Increment();
}

void ProxyMetrics::OnAdminRequestDeadlineClosed(const std::string& server) {
  admin_closed_.Add({{"server", server}, {"reason", "request_deadline"}}).Increment();
}

void ProxyMetrics::SetReady(bool ready) { ready_.Set(ready ? 1 : 0); }

void ProxyMetrics::OnConfigReload(const std::string& result, absl::Time when) {
  config_reloads_.Add({{"result", result}}).Increment();
  const bool ok = result == "ok";
  config_last_successful_.Set(ok ? 1 : 0);
  if (ok) config_last_success_.Set(absl::ToDoubleSeconds(when - absl::UnixEpoch()));
}

std::string ProxyMetrics::Serialize(absl::Time now) {
  {
    sync::MutexLock lock(&mutex_);
    if (has_snapshot_) {
      svid_expires_in_.Set(absl::ToDoubleSeconds(not_after_ - now));
      identity_loss_in_.Set(absl::ToDoubleSeconds(chain_not_after_ - now));
    }
  }
  peer_identities_.Set(static_cast<double>(peer_labels_.distinct()));
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  for (prometheus::MetricFamily& f : ProcessCollector().Collect()) families.push_back(std::move(f));
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace palisade::metrics
