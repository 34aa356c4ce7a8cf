// For tests: an IdentityService that follows control/README.md (Hello
// authenticated by the peer's SVID or a bootstrap token, a bundle answers
// Hello, one SVID per bootstrap stream, then the stream ends OK), with knobs
// to push bundles and re-key requests, to issue and revoke re-attestation
// tokens, or to misbehave, and a record of what it received. Reached through a TestTlsServer, which
// says who the peer is.
#ifndef PALISADE_PROXY_IDENTITY_CLIENT_TESTING_FAKE_IDENTITY_SERVICE_H_
#define PALISADE_PROXY_IDENTITY_CLIENT_TESTING_FAKE_IDENTITY_SERVICE_H_

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "proto/palisade/control/v1/control.grpc.pb.h"
#include "proxy/identity_client/testing/test_tls_server.h"
#include "runtime/sync/mutex.h"

namespace palisade::identity_client::testing {

// Thread-safe. Shut the gRPC server down before destroying it.
class FakeIdentityService final : public control::v1::IdentityService::CallbackService {
 public:
  // The CA that signs leaves, and what follows the leaf in the chain.
  struct Issuer {
    X509* certificate = nullptr;  // not owned; must outlive its use
    EVP_PKEY* key = nullptr;
    std::vector<X509*> chain_after_leaf;
  };
  struct Csr {
    std::string stream_id;       // the identity the stream authenticated as
    bool bootstrap = false;      // the stream was authenticated by a token
    std::string spiffe_id;       // what the CSR asked for
    std::string public_key_der;  // SubjectPublicKeyInfo
    uint64_t request_id = 0;
    absl::Time received_at;
  };
  struct Hello {
    std::string peer_id;  // the verified client SVID's ID, "" for none
    control::v1::Hello hello;
  };
  struct Log {
    std::vector<Hello> hellos;
    std::vector<Csr> csrs;
    std::vector<uint64_t> acks;
    std::vector<control::v1::ConnectionReport> reports;
    std::vector<std::string> order;           // "hello", "csr", "ack", "report"
    std::vector<absl::Time> renew_after;      // the hint of each SVID sent
    std::vector<std::string> issued_serials;  // hex, in order
    int live_streams = 0;
  };

  FakeIdentityService(Issuer issuer, control::v1::TrustBundleUpdate bundle);

  void set_front(const TestTlsServer* front);
  // A join token (or service-account token) and the identity it stands for.
  void AcceptJoinToken(const std::string& token, const std::string& spiffe_id);
  void AcceptServiceAccountToken(const std::string& token, const std::string& spiffe_id);
  // SVIDs issued on join-token streams carry `token` as their re-attestation
  // token, which is then accepted for that identity ("" = none from now on).
  void IssueReattestationToken(const std::string& token);
  // Every re-attestation token accepted so far is refused from now on
  // (UNAUTHENTICATED), as after a revocation.
  void RevokeReattestationTokens();
  void SetIssuer(Issuer issuer);
  void SetTtl(absl::Duration ttl);
  // renew_after = issue time + `after`; nullopt: no hint.
  void SetRenewAfter(std::optional<absl::Duration> after);
  // Becomes the bundle of new streams and SVIDs, and is pushed to live ones.
  void PushBundle(control::v1::TrustBundleUpdate bundle);
  void PushRekey(const std::string& reason);
  // Ends every live stream with `status`.
  void EndStreams(const grpc::Status& status);
  // The next `count` CSRs are logged, then refused: their stream ends with
  // `status` (as palisade-control's issuance limit does).
  void RefuseCsrs(int count, const grpc::Status& status);

  Log log() const;
  // Waits until `condition` holds for the log, at most `timeout`.
  bool WaitFor(const std::function<bool(const Log&)>& condition,
               absl::Duration timeout = absl::Seconds(20)) const;

  grpc::ServerBidiReactor<control::v1::WatchRequest, control::v1::WatchResponse>* Watch(
      grpc::CallbackServerContext* context) override;

 private:
  class Reactor;
  void OnRequest(Reactor* reactor, const control::v1::WatchRequest& request);
  void OnHello(Reactor* reactor, const control::v1::Hello& hello);
  void OnCsr(Reactor* reactor, const control::v1::CertificateSigningRequest& csr);
  void Unregister(Reactor* reactor);

  mutable sync::Mutex mutex_;
  const TestTlsServer* front_ ABSL_GUARDED_BY(mutex_) = nullptr;
  Issuer issuer_ ABSL_GUARDED_BY(mutex_);
  control::v1::TrustBundleUpdate bundle_ ABSL_GUARDED_BY(mutex_);
  std::map<std::string, std::string> join_tokens_ ABSL_GUARDED_BY(mutex_);
  std::map<std::string, std::string> sa_tokens_ ABSL_GUARDED_BY(mutex_);
  std::map<std::string, std::string> reattestation_tokens_ ABSL_GUARDED_BY(mutex_);
  std::string reattestation_to_issue_ ABSL_GUARDED_BY(mutex_);
  absl::Duration ttl_ ABSL_GUARDED_BY(mutex_) = absl::Hours(1);
  std::optional<absl::Duration> renew_after_ ABSL_GUARDED_BY(mutex_);
  int csrs_to_refuse_ ABSL_GUARDED_BY(mutex_) = 0;
  grpc::Status csr_refusal_ ABSL_GUARDED_BY(mutex_);
  std::set<Reactor*> live_ ABSL_GUARDED_BY(mutex_);
  Log log_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace palisade::identity_client::testing

#endif  // PALISADE_PROXY_IDENTITY_CLIENT_TESTING_FAKE_IDENTITY_SERVICE_H_
