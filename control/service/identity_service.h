// IdentityService.Watch: authenticates each proxy (its SVID over mTLS, a join
// token, a re-attestation token, or a Kubernetes service-account token),
// answers Hello with the trust bundle and each CSR with an SVID (with a
// re-attestation token when a join token bootstrapped it), pushes bundle
// changes and re-key requests, and audits every issuance and refusal. See
// control/README.md.
#ifndef PALISADE_CONTROL_SERVICE_IDENTITY_SERVICE_H_
#define PALISADE_CONTROL_SERVICE_IDENTITY_SERVICE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "control/auth/join_token_store.h"
#include "control/auth/service_account_verifier.h"
#include "control/ca/certificate_authority.h"
#include "control/ca/rollover_machine.h"
#include "control/federation/federated_bundles.h"
#include "control/metrics/control_metrics.h"
#include "control/service/audit_log.h"
#include "control/service/issuance_limiter.h"
#include "control/service/peer_table.h"
#include "control/service/revocation_list.h"
#include "control/service/watch_stream.h"
#include "control/service/workload_registry.h"
#include "proto/palisade/control/v1/control.grpc.pb.h"
#include "runtime/sync/mutex.h"

namespace palisade::control::service {

struct IdentityServiceOptions {
  std::string trust_domain;
  absl::Duration svid_ttl = absl::Hours(1);
  // notBefore = now - backdate, for proxies whose clocks lag (bounded).
  absl::Duration backdate = absl::Seconds(30);
  absl::Duration hello_timeout = absl::Seconds(10);
  absl::Duration csr_timeout = absl::Seconds(30);  // bootstrap streams
  // Re-attestation tokens expire this long after their last use or after the
  // last SVID issued to their identity (--reattestation_ttl).
  absl::Duration reattestation_ttl = absl::Hours(720);
  size_t max_message_bytes = 64 * 1024;
  double renew_spread = 0.1;  // renew_after = half the lifetime, +/- this fraction
  // Per-identity issuance limits; its svid_ttl is set from the one above.
  IssuanceLimits limits;
  std::function<absl::Time()> clock = [] { return absl::Now(); };
  // When set, a renewal (not a bootstrap) is refused UNAVAILABLE with reason
  // store_unavailable while it returns non-empty (why the store cannot be
  // reached): --renewals_without_store=refuse.
  std::function<std::string()> renewals_blocked_by;
};

struct IdentityServiceDeps {
  ca::CertificateAuthority* ca = nullptr;
  auth::JoinTokenStore* tokens = nullptr;
  const auth::ServiceAccountVerifier* service_accounts = nullptr;  // null: SA tokens refused
  WorkloadRegistry* registry = nullptr;
  const PeerTable* peers = nullptr;
  AuditLog* audit = nullptr;
  metrics::ControlMetrics* metrics = nullptr;  // optional
  // The deny-list sent on every stream and pushed on change; optional.
  RevocationList* revocations = nullptr;
  // Foreign trust domains' bundles, sent beside this domain's; optional.
  const federation::FederatedBundles* federation = nullptr;
};

// Thread-safe: gRPC runs the streams on its threads; pushes and sweeps come
// from the control plane's housekeeping and admin threads.
class IdentityService final : public v1::IdentityService::CallbackService, public StreamHost {
 public:
  IdentityService(IdentityServiceOptions options, IdentityServiceDeps deps);
  ~IdentityService() override;

  grpc::ServerBidiReactor<v1::WatchRequest, v1::WatchResponse>* Watch(
      grpc::CallbackServerContext* context) override;

  // Sends the CA's current bundle to every authenticated stream.
  void PushBundle();
  // Sends the current deny-list to every stream past its Hello.
  void PushDenyList();
  // Asks every authenticated stream for a CSR now.
  void RequestRekey(const std::string& reason);
  // Ends the streams of `spiffe_id` (de-registration) with PERMISSION_DENIED.
  size_t CloseStreamsOf(const std::string& spiffe_id, const std::string& reason);
  // Ends the streams whose identity descends from join or re-attestation
  // token `token_id`.
  size_t CloseStreamsOfToken(const std::string& token_id, const std::string& reason);
  // Ends streams past their Hello or CSR deadline.
  void CheckDeadlines();
  // Writes the closing audit line of identities whose throttled refusals
  // went unwritten, and lets the limiter forget idle identities.
  void SweepLimits();

  std::vector<StreamInfo> Streams() const;
  // The authenticated streams as the rollover machine sees them.
  std::vector<ca::ProxyView> Fleet() const;
  size_t stream_count() const;

  // StreamHost.
  absl::Status OnStreamStart(const std::shared_ptr<WatchStream>& stream) override;
  absl::Status OnMessage(const std::shared_ptr<WatchStream>& stream,
                         const v1::WatchRequest& request) override;
  void OnStreamDone(const std::shared_ptr<WatchStream>& stream) override;

 private:
  absl::Status OnHello(WatchStream& stream, const v1::Hello& hello);
  absl::Status OnCsr(WatchStream& stream, const v1::CertificateSigningRequest& csr);
  // Audits and counts a refusal, returns it for the stream to end with.
  absl::Status Refuse(const StreamInfo& info, const std::string& claimed_id,
                      const absl::Status& refusal);
  v1::TrustBundleUpdate BundleMessage() const;
  // The CA bundle version a pushed (acknowledged) version stands for.
  uint64_t CaBundleVersion(uint64_t pushed) const;
  v1::DenyList DenyListMessage() const;
  absl::Time RenewAfter(absl::Time now, absl::Time not_after);
  std::vector<std::shared_ptr<WatchStream>> Snapshot() const;
  void UpdateStreamGauge();

  const IdentityServiceOptions options_;
  const IdentityServiceDeps deps_;
  IssuanceLimiter limiter_;
  mutable sync::Mutex mu_;
  std::map<uint64_t, std::shared_ptr<WatchStream>> streams_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace palisade::control::service

#endif  // PALISADE_CONTROL_SERVICE_IDENTITY_SERVICE_H_
