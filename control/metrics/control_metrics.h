// palisade-control's Prometheus metrics (prefix palisade_control_):
// certificates issued, refusals by reason, connected streams, bundle version,
// rollover phase, issuance latency, identity-port TLS handshakes, JWKS loads and
// refreshes from the issuer, CA and bundle expiry.
#ifndef PALISADE_CONTROL_METRICS_CONTROL_METRICS_H_
#define PALISADE_CONTROL_METRICS_CONTROL_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "runtime/sync/mutex.h"

namespace palisade::control::metrics {

// Thread-safe (prometheus-cpp metrics are).
class ControlMetrics {
 public:
  ControlMetrics();

  // kind: "bootstrap", "renewal" or "self" (the control plane's own SVID).
  void OnIssued(const std::string& kind, absl::Duration latency);
  void OnRefused(const std::string& reason);
  void SetStreams(int64_t connected);
  void SetBundle(uint64_t version, size_t roots);
  // phase: "idle", "propagating", "rekeying", "retiring".
  void SetRollover(const std::string& phase, size_t waiting_on);
  void OnHandshake(const std::string& result);
  // Creates these identity-port handshake results, and these keys of the
  // suppressed-refusal-log counter, at zero (the identity port knows them).
  void AddHandshakeSeries(const std::vector<std::string>& results,
                          const std::vector<std::string>& suppressed_keys);
  // A refusal on the identity port whose log and audit line were left out
  // (rate limit), by reason.
  void OnRefusalLogSuppressed(const std::string& reason);
  void SetServingSvidExpiry(absl::Time not_after);
  // The issuing chain's earliest notAfter (no SVID can outlive it) and the
  // earliest notAfter among the trust bundle's roots.
  void SetCaExpiry(absl::Time issuing_chain_not_after, absl::Time earliest_root_not_after);
  // Identities on the deny-list pushed to proxies.
  void SetDenyList(size_t entries);
  // A shared CA record (--store=etcd) this replica refused to reload, by its
  // key; the CA it held stays.
  void OnCaReloadFailure(const std::string& key);
  // A (re)load of --jwks_file: accepted with `keys` keys, or refused.
  void OnJwksLoad(bool accepted, size_t keys);
  // A fetch of the issuer's JWKS (--sa_issuer_discovery) by `result` (one of
  // auth::kIssuerFetchResults); `keys` in use after it.
  void OnJwksRefresh(const std::string& result, size_t keys);
  // A token named an unknown key: a refresh `requested`, or `rate_limited`.
  void OnUnknownKeyRefresh(bool requested);
  // Time since the key set in use was last fetched good from the issuer.
  void SetJwksAge(absl::Duration age);
  // An admin HTTP server (`server`: "admin", "public") stopped accepting at
  // its connection cap, or closed a connection whose request missed its
  // deadline.
  void OnAdminCapReached(const std::string& server);
  void OnAdminRequestDeadlineClosed(const std::string& server);

  // --store=etcd: whether this replica leads (1 with the file store) and how
  // often its role changed since it started.
  void SetLeader(bool leader, uint64_t changes);

  // TLS to etcd (--etcd_ca_file): failures since start by (endpoint, reason),
  // as totals; the counters move by the difference.
  void SetEtcdTlsFailures(const std::map<std::pair<std::string, std::string>, uint64_t>& totals);

  std::string Serialize();

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& issued_;
  prometheus::Family<prometheus::Counter>& refusals_;
  prometheus::Gauge& streams_;
  prometheus::Gauge& bundle_version_;
  prometheus::Gauge& bundle_roots_;
  prometheus::Family<prometheus::Gauge>& rollover_phase_;
  prometheus::Gauge& rollover_waiting_;
  prometheus::Histogram& issuance_seconds_;
  prometheus::Family<prometheus::Counter>& handshakes_;
  prometheus::Family<prometheus::Counter>& refusal_log_suppressed_;
  prometheus::Gauge& serving_expiry_;
  prometheus::Gauge& ca_expiry_;
  prometheus::Gauge& bundle_expiry_;
  prometheus::Gauge& deny_list_entries_;
  prometheus::Family<prometheus::Counter>& jwks_loads_;
  prometheus::Gauge& jwks_keys_;
  prometheus::Family<prometheus::Counter>& ca_reload_failures_;
  prometheus::Family<prometheus::Counter>& jwks_refreshes_;
  prometheus::Family<prometheus::Counter>& jwks_unknown_key_;
  prometheus::Family<prometheus::Gauge>& jwks_age_;
  prometheus::Family<prometheus::Counter>& admin_cap_reached_;
  prometheus::Family<prometheus::Counter>& admin_closed_;
  prometheus::Gauge& leader_;
  prometheus::Counter& leader_changes_;
  std::atomic<uint64_t> leader_changes_seen_{0};
  prometheus::Family<prometheus::Counter>& etcd_tls_failures_;
  sync::Mutex etcd_tls_mu_;
  std::map<std::pair<std::string, std::string>, uint64_t> etcd_tls_seen_
      ABSL_GUARDED_BY(etcd_tls_mu_);
};

}  // namespace palisade::control::metrics

#endif  // PALISADE_CONTROL_METRICS_CONTROL_METRICS_H_
