// palisade-control put together: the state directory (CA, join tokens,
// workloads, rollover, audit), the in-process gRPC server on loopback, the
// TLS terminator on the identity port, the admin API, and one housekeeping
// thread (deadlines, the control plane's own SVID renewal, rollover phases,
// registry flushes).
#ifndef PALISADE_CONTROL_SERVER_CONTROL_SERVER_H_
#define PALISADE_CONTROL_SERVER_CONTROL_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "control/admin/admin_api.h"
#include "control/auth/join_token_store.h"
#include "control/auth/service_account_verifier.h"
#include "control/ca/certificate_authority.h"
#include "control/ca/rollover_machine.h"
#include "control/federation/bundle_fetcher.h"
#include "control/federation/federated_bundles.h"
#include "control/federation/federation_config.h"
#include "control/federation/federation_metrics.h"
#include "control/metrics/control_metrics.h"
#include "control/server/issuer_discovery.h"
#include "control/server/replica_coordination.h"
#include "control/server/shared_state.h"
#include "control/service/audit_log.h"
#include "control/service/identity_port.h"
#include "control/service/identity_service.h"
#include "control/service/peer_table.h"
#include "control/service/revocation_list.h"
#include "control/service/workload_registry.h"
#include "control/state/etcd/etcd_tls_config.h"
#include "control/state/shared_store.h"
#include "runtime/http/http_server.h"
#include "runtime/sync/mutex.h"

namespace palisade::control::server {

struct ControlServerOptions {
  std::string trust_domain;
  std::string state_dir;
  std::string listen = "0.0.0.0:15012";
  std::string admin = "127.0.0.1:15013";
  bool admin_allow_non_loopback = false;
  // Names (besides loopback ones and the bound IP) the admin API answers to
  // in a Host header.
  std::vector<std::string> admin_host_names;
  // Where the admin credential is written at start (0600); empty:
  // <state_dir>/admin.token.
  std::string admin_token_file;
  absl::Duration svid_ttl = absl::Hours(1);
  absl::Duration clock_skew = absl::Seconds(30);
  absl::Duration hello_timeout = absl::Seconds(10);
  absl::Duration csr_timeout = absl::Seconds(30);
  // Re-attestation tokens expire this long after their last use or the last
  // SVID issued to their identity.
  absl::Duration reattestation_ttl = absl::Hours(720);
  // Per-identity issuance limits (--issuance_burst, --issuance_per_ttl,
  // --issuance_max_unexpired); svid_ttl above scales the rate.
  service::IssuanceLimits issuance;
  // Service-account tokens: issuer and audience, with their keys from
  // jwks_file or from the issuer (issuer_discovery), not both.
  std::string jwks_file;
  std::string sa_issuer;
  std::string sa_audience;
  IssuerDiscoveryOptions issuer_discovery;
  // Plug-in CA; cert, key and root bundle together, or none (self-managed).
  std::string plugin_ca_cert;
  std::string plugin_ca_key;
  std::string plugin_ca_chain;
  std::string plugin_root_bundle;
  ca::RolloverTimeouts rollover;
  // The identity port's limits (IdentityPort::Options; 0 = its default).
  size_t max_connections = 0;
  size_t svid_reserved_connections = 0;
  size_t max_anonymous_connections_per_source = 0;
  size_t max_pending_handshakes = 0;
  size_t max_pending_handshakes_per_source = 64;
  // After its handshake a client must send a byte within this, and open a
  // stream (gRPC: a connection with no RPC is closed) within the other.
  absl::Duration first_byte_timeout = absl::Seconds(10);
  absl::Duration first_stream_timeout = absl::Seconds(30);
  // Where join tokens and the deny-list live: "file" (the state directory,
  // one replica) or "etcd" (shared by replicas; see control/README.md).
  std::string store = "file";
  std::vector<std::string> etcd_endpoints;
  std::string etcd_prefix;             // empty: /palisade/<trust_domain>/
  state::etcd::EtcdTlsFiles etcd_tls;  // TLS to etcd when ca_file is set
  // --store=etcd with a self-managed CA: the key-encryption key its private
  // keys are sealed with in the store (control/ca/key_seal.h). Required then,
  // refused otherwise.
  std::string ca_kek_file;
  // --store=etcd: the leader's lease TTL and this replica's unique name
  // (replica_coordination.h).
  absl::Duration leader_lease_ttl = absl::Seconds(10);
  std::string replica_id;
  // --store=etcd: while the store cannot be reached (what /ready reports),
  // renewals of registered identities are served from the CA this replica
  // holds (false, the default) or refused with reason store_unavailable.
  bool refuse_renewals_without_store = false;
  // Expired tokens are forgotten `token_retention` after they expire, checked
  // every `token_prune_interval` (in etcd too, by compare-and-delete).
  absl::Duration token_retention = absl::Hours(24 * 7);
  absl::Duration token_prune_interval = absl::Hours(1);
  // TLS refusals logged and audited per reason and interval.
  size_t tls_refusal_log_burst = 10;
  absl::Duration tls_refusal_log_interval = absl::Seconds(10);
  absl::Duration tick = absl::Seconds(1);
  // The read-only port and the admission webhook run beside the server
  // (main.cc starts them), but a bad or taken address must stop `serve`
  // before it writes anything, like --listen and --admin. Empty: none.
  std::string public_listen;
  std::string webhook_listen;
  // Foreign trust domains (--federation_file, parsed by the caller) and how
  // often their bundles are fetched (--federation_min_refresh,
  // --federation_max_refresh).
  std::vector<federation::FederatedDomain> federation;
  federation::BundleFetcher::Options federation_refresh;
  std::string bundle_endpoint_listen;
};

class ControlServer final : public admin::ControlApi {
 public:
  // Opens the state (refusing a corrupt one) and binds the identity and
  // admin ports. Errors name the flag or file at fault.
  static absl::StatusOr<std::unique_ptr<ControlServer>> Create(const ControlServerOptions& options);
  ~ControlServer() override;

  absl::Status Start();
  void Stop();

  // Told of the control plane's own SVID (leaf first), its key, and the trust
  // bundle (roots, version) at every renewal, and so after every bundle
  // change; e.g. to serve them on the SPIFFE bundle endpoint. Set before
  // Start(); runs under the server's lock, so it must not call back.
  using ServingObserver =
      std::function<void(const std::vector<X509*>& chain, EVP_PKEY* key,
                         const std::vector<X509*>& roots, uint64_t bundle_version)>;
  void SetServingObserver(ServingObserver observer) ABSL_LOCKS_EXCLUDED(mu_);

  // Re-reads --jwks_file (the API server's signing keys rotate; a ConfigMap
  // update lands in the file). A changed, valid key set replaces the one in
  // use; an unreadable or invalid file is logged and counted once, returned,
  // and the keys in use stay. OK when the file is unchanged.
  absl::Status ReloadJwks() ABSL_LOCKS_EXCLUDED(jwks_mu_);

  net::SocketAddress identity_address() const { return identity_port_->address(); }
  net::SocketAddress admin_address() const { return http_->address(); }
  // Limits for an admin HTTP server `name` ("admin", "public") whose shed
  // connections count in this server's metrics.
  http::ConnectionLimits AdminConnectionLimits(const std::string& name);

  // ControlApi.
  std::string MetricsText() override;
  std::string NotReadyReason() override;
  nlohmann::json State() override;
  std::string BundlePem() override;
  absl::StatusOr<nlohmann::json> CreateJoinToken(const std::string& spiffe_id, absl::Duration ttl,
                                                 bool single_use) override;
  nlohmann::json ListJoinTokens() override;
  absl::StatusOr<nlohmann::json> RevokeJoinToken(const std::string& id) override;
  absl::StatusOr<nlohmann::json> Deregister(const std::string& spiffe_id) override;
  absl::StatusOr<nlohmann::json> Reregister(const std::string& spiffe_id) override;
  absl::StatusOr<nlohmann::json> StartRollover() override;
  nlohmann::json RolloverState() override;

 private:
  explicit ControlServer(const ControlServerOptions& options);
  absl::Status Open();
  // Issues the control plane's own SVID and installs it with the current bundle.
  absl::Status RenewServingSvid() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `as_leader`: a rollover step, written only while this replica leads.
  absl::Status SaveRollover(bool as_leader = false) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Housekeeping();
  // With --store=etcd (replica_coordination.h), on the housekeeping thread
  // without the lock: publishes this replica's view and says whether it
  // leads, over which fleet (every live replica's proxies) and what the
  // stored rollover status is. With the file store: it leads, its own fleet.
  struct ReplicaTick {
    bool lead = true;
    std::vector<ca::ProxyView> fleet;
    std::optional<StoredRollover> stored;
  };
  ReplicaTick CoordinateReplicas(std::vector<ca::ProxyView> own);
  // Takes a stored rollover status newer than ours (a start through another
  // replica, a step by an earlier leader); the leader resumes from it.
  void AdoptStoredRollover(const StoredRollover& stored, bool lead)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Tick() ABSL_LOCKS_EXCLUDED(mu_);
  void PruneTokensIfDue();  // housekeeping thread only
  void PruneRevocations();  // housekeeping thread only
  // The watchers' view of the shared deny-list (--store=etcd): identities
  // listed elsewhere are de-registered here too, pushed and cut off.
  void OnSharedRevocations(const std::vector<state::StoredRecord>& records, int64_t revision);
  // The watcher's view of the shared CA record: a newer one is taken, and
  // pushed (bundle; re-key when the issuing root changed) to this replica's
  // proxies; one that does not load is logged and counted once, and the CA
  // held stays.
  void OnSharedCa(const std::vector<state::StoredRecord>& records);
  // Lists `spiffe_id` until the last certificate issued to it expires.
  absl::StatusOr<absl::Time> Revoke(const std::string& spiffe_id, absl::Time now);
  void AfterBundleChange() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  nlohmann::json RolloverJson() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  nlohmann::json FederationJson() const;
  // Opens the stored foreign bundles and makes their fetcher.
  absl::Status OpenFederation(absl::Time now);

  const ControlServerOptions options_;
  const absl::Time created_at_ = absl::Now();
  metrics::ControlMetrics metrics_;
  service::PeerTable peers_;
  std::unique_ptr<ca::CertificateAuthority> ca_;
  std::unique_ptr<SharedState> shared_;  // --store=etcd; outlives the stores below
  // --store=etcd: leadership and the replicas' rollover views (uses shared_);
  // the last problem reading them, logged once (housekeeping thread only).
  std::unique_ptr<ReplicaCoordination> coordination_;
  std::string coordination_problem_;
  std::unique_ptr<auth::JoinTokenStore> tokens_;
  std::unique_ptr<service::WorkloadRegistry> registry_;
  std::unique_ptr<service::RevocationList> revocations_;
  std::unique_ptr<service::AuditLog> audit_;
  std::unique_ptr<auth::ServiceAccountVerifier> service_accounts_;
  // With --sa_issuer_discovery; started by Start, after the verifier exists.
  std::unique_ptr<auth::JwksRefresher> jwks_refresher_;
  // With --federation_file: the foreign bundles, their fetcher (started by
  // Start) and metrics.
  std::unique_ptr<federation::FederatedBundles> federated_;
  std::unique_ptr<federation::FederationMetrics> federation_metrics_;
  std::unique_ptr<federation::BundleFetcher> federation_fetcher_;
  std::unique_ptr<service::IdentityService> service_;
  std::unique_ptr<grpc::Server> grpc_;
  std::unique_ptr<service::IdentityPort> identity_port_;
  std::unique_ptr<http::HttpServer> http_;
  std::thread housekeeping_;

  sync::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  ca::RolloverMachine rollover_ ABSL_GUARDED_BY(mu_);
  // --store=etcd: the revision of rollover/status that rollover_ holds.
  int64_t rollover_revision_ ABSL_GUARDED_BY(mu_) = 0;
  // --store=etcd: the waiting_on stored with it, so the leader writes a new
  // one (for the followers' status) only when it changed.
  std::vector<std::string> stored_waiting_on_ ABSL_GUARDED_BY(mu_);
  bssl::UniquePtr<EVP_PKEY> serving_key_ ABSL_GUARDED_BY(mu_);
  std::string serving_serial_ ABSL_GUARDED_BY(mu_);
  absl::Time serving_issued_ ABSL_GUARDED_BY(mu_);
  absl::Time next_token_prune_ = absl::InfinitePast();  // housekeeping thread only
  absl::Time serving_not_after_ ABSL_GUARDED_BY(mu_);
  uint64_t installed_bundle_version_ ABSL_GUARDED_BY(mu_) = 0;
  ServingObserver serving_observer_ ABSL_GUARDED_BY(mu_);
  absl::Time last_flush_ ABSL_GUARDED_BY(mu_);

  // Refused shared records already logged, as "key@mod_revision", per watch
  // (tokens, revocations): each is logged once, not on every change the
  // watch delivers; only records still refused are remembered.
  void LogRefusedRecords(absl::string_view event, const std::vector<state::StoredRecord>& records,
                         const std::vector<absl::Status>& errors, std::set<std::string>* logged)
      ABSL_LOCKS_EXCLUDED(refused_mu_);
  sync::Mutex refused_mu_;
  std::set<std::string> refused_tokens_ ABSL_GUARDED_BY(refused_mu_);
  std::set<std::string> refused_revocations_ ABSL_GUARDED_BY(refused_mu_);
  std::string refused_ca_ ABSL_GUARDED_BY(refused_mu_);  // "key@revision" last refused
  sync::Mutex jwks_mu_;
  std::string jwks_text_ ABSL_GUARDED_BY(jwks_mu_);     // the file as last accepted
  std::string jwks_problem_ ABSL_GUARDED_BY(jwks_mu_);  // last refusal logged, to log once
};

}  // namespace palisade::control::server

#endif  // PALISADE_CONTROL_SERVER_CONTROL_SERVER_H_
