// The control-plane identity source: one Watch stream to palisade-control
// (control/README.md) that obtains, renews and re-keys this proxy's SVID and
// installs it, and every trust-bundle push, into the credential store.
#ifndef PALISADE_PROXY_IDENTITY_CLIENT_CONTROL_PLANE_SOURCE_H_
#define PALISADE_PROXY_IDENTITY_CLIENT_CONTROL_PLANE_SOURCE_H_

#include <openssl/evp.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "identity/spiffe_id.h"
#include "identity/trust_bundle.h"
#include "proto/palisade/config/v1/config.pb.h"
#include "proto/palisade/control/v1/control.pb.h"
#include "proxy/credentials/credential_store.h"
#include "proxy/credentials/identity_source.h"
#include "proxy/identity_client/backoff.h"
#include "proxy/identity_client/control_plane_candidates.h"
#include "proxy/identity_client/reattestation_token_file.h"
#include "proxy/identity_client/renewal_policy.h"
#include "proxy/identity_client/watch_call.h"
#include "proxy/metrics/proxy_metrics.h"
#include "runtime/sync/mutex.h"

namespace palisade::identity_client {

// Threads: Start() spawns one control thread that owns the reconnect loop,
// all protocol state and every write on the stream. Each attempt's WatchCall
// adds a reader thread (blocks in Read(), queues what arrives for the control
// thread) and its SecureChannel a pump thread; both are joined when the
// attempt ends. Stop() (or the destructor) may be called from any other
// thread: it cancels the current call, wakes the control thread and joins it.
// status() is thread-safe.
//
// Keys: a fresh P-256 key pair is made in this process for every CSR; only
// the CSR leaves it. The key goes to the store with its SVID and is never
// logged or written anywhere. The one secret written to disk is the
// re-attestation token a join token's SVID comes with (a bearer token, not a
// key; mode 0600): a stream without a usable SVID presents it before the join
// token, so a proxy whose SVID expired or that restarted gets one again.
class ControlPlaneSource final : public credentials::IdentitySource {
 public:
  struct Options {
    config::v1::ControlPlaneIdentitySource config;  // defaults applied
    // identity.spiffe_id: what the CSRs ask for. If empty, derived from the
    // service-account token (a join token needs it).
    std::string spiffe_id;
    credentials::CredentialStore* store = nullptr;  // required
    metrics::ProxyMetrics* metrics = nullptr;       // optional
    // Live connections by root fingerprint (ProxyServer::ConnectionsByRoot);
    // optional. Called on the control thread.
    std::function<std::map<std::string, uint64_t>()> connections_by_root;
    std::string version;    // sent in Hello
    RenewalPolicy renewal;  // its fraction is taken from config.renew_fraction
    RetryBounds retry;      // reconnect waits bent to the SVID's expiry
    absl::Duration report_interval = absl::Seconds(10);
    absl::Duration connect_timeout = absl::Seconds(5);
    absl::Duration handshake_timeout = absl::Seconds(10);
    // A CSR unanswered this long ends the stream (and the attempt).
    absl::Duration csr_timeout = absl::Seconds(30);
    // An expired SVID without renewal is logged at error level this often.
    absl::Duration expired_log_interval = absl::Seconds(30);
    // Schedules are wall-clock times (certificates are): the control thread
    // looks at the clock at least this often, so clock jumps are noticed.
    absl::Duration max_idle_wait = absl::Seconds(1);
    std::function<absl::Time()> clock = [] { return absl::Now(); };
    std::function<double()> unit_random;  // uniform [0, 1); default: absl::BitGen
    // Looks up the replicas behind a name; default getaddrinfo(3).
    ControlPlaneCandidates::Resolve resolve;
  };

  // Checks the options (bootstrap bundle file, the identity to ask for) and
  // starts the control thread.
  static absl::StatusOr<std::unique_ptr<ControlPlaneSource>> Start(Options options);
  ~ControlPlaneSource() override;
  ControlPlaneSource(const ControlPlaneSource&) = delete;
  ControlPlaneSource& operator=(const ControlPlaneSource&) = delete;

  // Idempotent; the store keeps the last SVID.
  void Stop();

  struct Status {
    bool connected = false;   // a stream is up
    uint64_t streams = 0;     // streams opened
    uint64_t reconnects = 0;  // streams opened after the first
    uint64_t failovers = 0;   // streams opened on another replica than the last
    std::string address;      // the replica of the current or last stream
    uint64_t failed_attempts = 0;
    uint64_t svids_installed = 0;
    uint64_t updates_rejected = 0;  // SVIDs or bundles the store refused
    uint64_t bundle_acks = 0;
    uint64_t reports_sent = 0;
    uint64_t expired_warnings = 0;
    uint64_t reattestation_write_failures = 0;
    // Configured federated trust domains without a bundle on the stream.
    std::vector<std::string> missing_trust_domains;
    std::optional<absl::Time> next_renewal;
    std::string last_error;
  };
  Status status() const;

 private:
  struct Stream;
  enum class Credential { kSvid, kBootstrap };
  struct Attempt {
    bool installed = false;          // an SVID from this stream was installed
    bool healthy = false;            // the stream worked: reset the backoff
    bool reconnect_at_once = false;  // a bootstrap stream ended after issuing
    bool served = false;             // the replica served a stream that worked
    std::string address;             // the replica dialled
    std::string error;               // why the attempt failed, for the log
  };

  ControlPlaneSource(Options options, identity::SpiffeId workload_id,
                     identity::TrustBundleSet bootstrap_bundles);
  void Run();
  Attempt RunAttempt();
  void OnOpened(const Stream& stream, const control::v1::Hello& hello);
  void Serve(Stream& stream, Attempt& attempt);
  void Handle(Stream& stream, const control::v1::WatchResponse& response, Attempt& attempt);
  void OnBundle(Stream& stream, const control::v1::TrustBundleUpdate& update);
  // True (and logged) for a bundle older than one this stream already had.
  bool IsStale(Stream& stream, const control::v1::TrustBundleUpdate& update);
  void OnSvid(Stream& stream, const control::v1::SvidUpdate& update, Attempt& attempt);
  void OnDenyList(const control::v1::DenyList& update);
  // Warns (once per change) and counts the configured federated trust domains
  // the installed bundles lack: peers of those are refused until they come.
  void NoteMissingTrustDomains();
  void SaveReattestationToken(const std::string& token);
  void SendCsr(Stream& stream, const std::string& reason);
  void SendBundleAck(Stream& stream, uint64_t version);
  void SendReport(Stream& stream);
  bool Write(Stream& stream, const control::v1::WatchRequest& request);
  void RecordRejection(const std::string& what, const absl::Status& why);
  void CheckExpiry();
  // Waits out `delay` (Stop() cuts it short), watching the SVID's expiry.
  void Pause(absl::Duration delay);
  bool stopping() const;
  template <typename F>
  void Update(F f) {
    sync::MutexLock lock(&mutex_);
    f(status_);
  }

  const Options options_;
  const identity::SpiffeId workload_id_;
  const identity::TrustBundleSet bootstrap_bundles_;

  // Control thread only.
  std::optional<identity::TrustBundleSet> bundles_;  // the latest the server sent
  std::optional<absl::Time> next_renewal_;
  ReattestationTokenFile reattestation_;
  Backoff reconnect_backoff_;
  Backoff retry_backoff_;  // for CSRs whose SVID the store refused
  ControlPlaneCandidates candidates_;
  std::string last_address_;             // the replica of the last stream opened
  bool svid_refused_by_server_ = false;  // the last mTLS attempt: our SVID was refused
  uint64_t next_request_id_ = 0;
  std::optional<std::vector<std::string>> missing_domains_;  // as last logged
  absl::Time last_expired_log_ = absl::InfinitePast();

  mutable sync::Mutex mutex_;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  WatchCall* call_ ABSL_GUARDED_BY(mutex_) = nullptr;  // of the current attempt
  Status status_ ABSL_GUARDED_BY(mutex_);
  std::once_flag joined_;
  std::thread thread_;
};

}  // namespace palisade::identity_client

#endif  // PALISADE_PROXY_IDENTITY_CLIENT_CONTROL_PLANE_SOURCE_H_
