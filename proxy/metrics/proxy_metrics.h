// The proxy's Prometheus metrics (prefix palisade_): handshakes by result,
// reason and peer identity (at most max_peer_identities distinct values, the
// rest as "other"); connections, bytes and connection errors; the SVID's
// expiry and rotations; trust bundles; the control-plane stream.
#ifndef PALISADE_PROXY_METRICS_PROXY_METRICS_H_
#define PALISADE_PROXY_METRICS_PROXY_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "proxy/credentials/credential_snapshot.h"
#include "proxy/forward/connection_host.h"
#include "proxy/metrics/label_limiter.h"
#include "runtime/sync/mutex.h"

namespace palisade::metrics {

// Thread-safe.
class ProxyMetrics final : public forward::ConnectionObserver {
 public:
  explicit ProxyMetrics(size_t max_peer_identities);

  // Creates the listener's connection series at zero, so that they exist
  // (and rate() sees their first increase) before any traffic.
  void AddListener(const std::string& name, forward::Direction direction);

  void OnAccepted(const forward::ListenerContext& listener) override;
  void OnRefused(const forward::ListenerContext& listener, const std::string& reason) override;
  void OnHandshake(const forward::ListenerContext& listener,
                   const forward::HandshakeOutcome& outcome) override;
  void OnClosed(const forward::ListenerContext& listener,
                const forward::ConnectionSummary& summary) override;

  // The access log held back a line of `listener` (rate limit), by close reason.
  void OnAccessLogSuppressed(const forward::ListenerContext& listener, const std::string& reason);

  // A new credential snapshot was published.
  void OnSnapshot(const credentials::CredentialSnapshot& snapshot);
  void OnIdentityUpdateRejected(const std::string& source);

  // A gateway listener's trust store files: series at zero, then each
  // reload (ok, or refused and the running store kept).
  void AddGatewayListener(const std::string& listener);
  void OnGatewayTrustReload(const std::string& listener, bool ok);

  void SetControlPlaneConnected(bool connected);
  // Federated trust domains the configuration lists that the control plane
  // sent no bundle for.
  void SetMissingTrustDomains(size_t count);
  void OnControlPlaneReconnect();
  // A watch stream opened on another control-plane replica than the last.
  void OnControlPlaneFailover();
  // The replica ("host:port") of the current or last watch stream; the
  // previous one's series is removed. One caller (the control thread).
  void SetControlPlaneAddress(const std::string& address);
  void OnRenewal(absl::Time when);
  // The re-attestation token from the control plane was written to its file,
  // or could not be.
  void OnReattestationTokenWrite(bool ok);
  // An admin HTTP server (`server`: "admin", "public") stopped accepting at
  // its connection cap, or closed a connection whose request missed its
  // deadline.
  void OnAdminCapReached(const std::string& server);
  void OnAdminRequestDeadlineClosed(const std::string& server);
  void SetReady(bool ready);
  // A configuration reload's outcome (one of kConfigReloadResults). The
  // start counts as the first successful load.
  static constexpr const char* kConfigReloadResults[] = {"ok", "invalid", "requires_restart",
                                                         "failed"};
  void OnConfigReload(const std::string& result, absl::Time when);

  // Prometheus text format. Time-relative gauges are computed against `now`.
  std::string Serialize(absl::Time now);

  prometheus::Registry& registry() { return *registry_; }

 private:
  // Series resolved once per worker thread. prometheus-cpp's Family::Add
  // builds a whole new metric (a histogram with its buckets, a label map)
  // on every call before it finds the existing one: far more work than the
  // count it records. Cached pointers make the per-connection path a few
  // hash lookups and atomic adds, without locks.
  struct ListenerSeries {
    prometheus::Counter* total;
    prometheus::Gauge* active;
    prometheus::Counter* bytes_received;
    prometheus::Counter* bytes_sent;
  };
  struct ThreadCache {
    absl::flat_hash_map<const forward::ListenerContext*, ListenerSeries> listeners;
    // Family address and label values -> series.
    absl::flat_hash_map<std::string, prometheus::Counter*> counters;
    // Peer IDs that keep their own label (at most the cap of them).
    absl::flat_hash_map<std::string, std::string> peer_labels;
  };
  ThreadCache& Cache();
  const ListenerSeries& SeriesFor(const forward::ListenerContext& listener);
  // The counter of `family` with these labels, resolved once per thread.
  prometheus::Counter& CounterFor(
      prometheus::Family<prometheus::Counter>& family, const forward::ListenerContext& listener,
      std::initializer_list<std::pair<const char*, std::string>> labels);
  std::string PeerLabel(const std::string& peer_id);

  std::shared_ptr<prometheus::Registry> registry_;
  LabelLimiter peer_labels_;

  prometheus::Family<prometheus::Counter>& handshakes_;
  prometheus::Family<prometheus::Histogram>& handshake_seconds_;
  prometheus::Family<prometheus::Counter>& resumed_;
  prometheus::Counter& peer_identities_folded_;
  prometheus::Gauge& peer_identities_;
  prometheus::Family<prometheus::Counter>& authz_denials_;
  prometheus::Family<prometheus::Counter>& revoked_peers_;
  prometheus::Family<prometheus::Gauge>& connections_active_;
  prometheus::Family<prometheus::Counter>& connections_total_;
  prometheus::Family<prometheus::Counter>& connections_refused_;
  prometheus::Family<prometheus::Counter>& connection_errors_;
  prometheus::Family<prometheus::Counter>& connection_resets_;
  prometheus::Family<prometheus::Counter>& bytes_received_;
  prometheus::Family<prometheus::Counter>& bytes_sent_;
  prometheus::Family<prometheus::Counter>& access_log_suppressed_;

  prometheus::Gauge& svid_not_after_;
  prometheus::Gauge& svid_lifetime_;
  prometheus::Gauge& svid_expires_in_;
  prometheus::Gauge& identity_loss_in_;
  prometheus::Family<prometheus::Gauge>& svid_info_;
  prometheus::Counter& rotations_;
  prometheus::Family<prometheus::Counter>& updates_rejected_;
  prometheus::Family<prometheus::Gauge>& bundle_roots_;
  prometheus::Gauge& bundle_updated_;
  prometheus::Gauge& bundle_missing_domains_;
  prometheus::Gauge& deny_list_entries_;
  prometheus::Gauge& deny_list_version_;
  prometheus::Gauge& control_connected_;
  prometheus::Counter& control_reconnects_;
  prometheus::Counter& control_failovers_;
  prometheus::Family<prometheus::Gauge>& control_address_;
  prometheus::Gauge* control_address_gauge_ = nullptr;  // SetControlPlaneAddress's caller only
  prometheus::Gauge& last_renewal_;
  prometheus::Family<prometheus::Counter>& reattestation_writes_;
  prometheus::Family<prometheus::Counter>& admin_cap_reached_;
  prometheus::Family<prometheus::Counter>& admin_closed_;
  prometheus::Family<prometheus::Counter>& gateway_trust_reloads_;
  prometheus::Gauge& ready_;
  prometheus::Family<prometheus::Counter>& config_reloads_;
  prometheus::Gauge& config_last_success_;
  prometheus::Gauge& config_last_successful_;

  const uint64_t instance_;  // tells thread caches of several instances apart
  // [inbound, outbound] x [full, resumed], and resumed handshakes by direction.
  prometheus::Histogram* handshake_histograms_[2][2];
  prometheus::Counter* resumed_by_direction_[2];

  sync::Mutex mutex_;
  prometheus::Gauge* current_info_ ABSL_GUARDED_BY(mutex_) = nullptr;
  absl::Time not_after_ ABSL_GUARDED_BY(mutex_) = absl::InfinitePast();
  absl::Time chain_not_after_ ABSL_GUARDED_BY(mutex_) = absl::InfinitePast();
  bool has_snapshot_ ABSL_GUARDED_BY(mutex_) = false;
  std::string bundle_key_ ABSL_GUARDED_BY(mutex_);
  absl::flat_hash_map<std::string, prometheus::Gauge*> bundle_root_gauges_ ABSL_GUARDED_BY(mutex_);
  std::string serial_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace palisade::metrics

#endif  // PALISADE_PROXY_METRICS_PROXY_METRICS_H_
