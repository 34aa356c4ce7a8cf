// The control plane's CA: the roots in the trust bundle and the intermediate
// that signs X.509-SVIDs. Self-managed (root and intermediate made on first
// start and kept in <state_dir>/ca, with a manifest of checksums as the commit
// point) or plug-in (an operator's intermediate, its chain and root bundle).
// Root rollover adds a second generation, switches issuance to it and retires
// the first. With --store=etcd the self-managed CA lives in the shared store
// instead (OpenShared, certificate_authority_shared.cc): one record for every
// replica, its private keys sealed under the KEK (key_seal.h), every step a
// compare-and-swap on the record's revision.
#ifndef PALISADE_CONTROL_CA_CERTIFICATE_AUTHORITY_H_
#define PALISADE_CONTROL_CA_CERTIFICATE_AUTHORITY_H_

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "control/state/shared_store.h"
#include "identity/csr.h"
#include "identity/signer.h"
#include "runtime/sync/mutex.h"

namespace palisade::control::ca {

// The roots proxies should trust, with the version that names this content.
struct Bundle {
  uint64_t version = 0;
  std::vector<bssl::UniquePtr<X509>> roots;
  std::vector<std::string> fingerprints;  // parallel to roots
};

struct IssuedSvid {
  bssl::UniquePtr<X509> leaf;
  std::vector<bssl::UniquePtr<X509>> intermediates;  // issuing CA first, root excluded
  std::string root_fingerprint;
};

// Thread-safe.
class CertificateAuthority {
 public:
  struct SelfManagedOptions {
    std::string trust_domain;
    std::string state_dir;
    absl::Duration root_ttl = absl::Hours(24 * 365 * 10);
    absl::Duration intermediate_ttl = absl::Hours(24 * 365);
  };
  // Loads <state_dir>/ca, or creates it when <state_dir>/ca is absent or empty.
  // Refuses (FailedPrecondition naming the file and the problem) a state that
  // is corrupt, half-written or made for another trust domain.
  static absl::StatusOr<std::unique_ptr<CertificateAuthority>> OpenSelfManaged(
      const SelfManagedOptions& options, absl::Time now);

  // The record every replica shares (relative to the store's prefix).
  static constexpr char kSharedKey[] = "ca/state";
  struct SharedOptions {
    std::string trust_domain;
    std::string state_dir;                // bundle.pem is still written here
    state::SharedStore* store = nullptr;  // outlives the CA
    std::string kek;                      // 32 bytes (LoadKek)
    absl::Duration root_ttl = absl::Hours(24 * 365 * 10);
    absl::Duration intermediate_ttl = absl::Hours(24 * 365);
  };
  // Loads the shared record, or creates it when absent: the replica whose
  // create-if-absent wins makes the CA, the others load it. Refuses
  // (FailedPrecondition naming the key and the rule, the record left as it
  // is) a record that does not parse, is for another trust domain, or whose
  // keys do not open under the KEK.
  static absl::StatusOr<std::unique_ptr<CertificateAuthority>> OpenShared(
      const SharedOptions& options, absl::Time now);

  struct PluginOptions {
    std::string trust_domain;
    std::string state_dir;  // keeps the bundle version across restarts
    std::string cert_file;  // the signing intermediate
    std::string key_file;
    std::string chain_file;   // intermediates above it, may be empty
    std::string bundle_file;  // the operator's root(s)
  };
  // Checks that the key matches, and that an SVID it issues verifies under the
  // bundle; errors name the file.
  static absl::StatusOr<std::unique_ptr<CertificateAuthority>> OpenPlugin(
      const PluginOptions& options, absl::Time now);

  ~CertificateAuthority();

  const std::string& trust_domain() const { return trust_domain_; }
  bool self_managed() const { return self_managed_; }

  absl::StatusOr<IssuedSvid> Issue(const identity::CheckedCsr& csr,
                                   const identity::LeafOptions& options) const;
  Bundle CurrentBundle() const;
  // The PEM of every root in the bundle.
  std::string BundlePem() const;
  // Fingerprint of the root the active intermediate chains to.
  std::string ActiveRootFingerprint() const;
  // The earliest notAfter of the active issuing chain (intermediate, any chain
  // above it, root): no SVID it issues can outlive it.
  absl::Time IssuingChainNotAfter() const;
  uint64_t bundle_version() const;

  // Root rollover (self-managed only; FailedPrecondition otherwise). Each step
  // is persisted before it returns and bumps the bundle version when the
  // bundle changes.
  // Makes a new root and intermediate and adds the root to the bundle (not yet
  // issuing). Returns its fingerprint. Idempotent while a next one exists.
  absl::StatusOr<std::string> AddNextRoot(absl::Time now);
  // Issuance switches to the newest generation.
  absl::Status ActivateNewest();
  // Removes every root but the active one from the bundle.
  absl::Status RetireInactive();
  // Self-managed: replaces the issuing intermediate (new key, same root) once
  // less than a third of its lifetime is left, so issuance never stops at its
  // notAfter. Returns whether it did. Persisted before it returns.
  absl::StatusOr<bool> RenewIntermediateIfDue(absl::Time now);
  // Fingerprints of roots in the bundle other than the active one.
  std::vector<std::string> InactiveFingerprints() const;

  bool shared() const { return store_ != nullptr; }
  // Shared: the leader-only steps (ActivateNewest, RetireInactive,
  // RenewIntermediateIfDue) write the record through `writes` (outlives the
  // CA), so a replica that no longer leads cannot change it: Aborted
  // "not_leader: ...", the step not done. Unset: plain compare-and-swap.
  void SetLeaderWrites(state::LeaderWrites* writes) ABSL_LOCKS_EXCLUDED(mu_);
  // Shared: the records under "ca/" as the watch delivers them. Takes a newer
  // record than the one held and says whether it did; a record that does
  // not load (malformed, wrong KEK, deleted) is an error naming its key and
  // the CA held stays. Never writes the record.
  absl::StatusOr<bool> ReloadFromStore(const std::vector<state::StoredRecord>& records,
                                       absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Generation;
  CertificateAuthority(std::string trust_domain, bool self_managed, std::string state_dir);

  absl::Status LoadManifest(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CreateGeneration(int number, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteManifest() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteBundleFile() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const Generation* Active() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Shared mode (certificate_authority_shared.cc).
  struct Snapshot;
  Snapshot Save() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Restore(Snapshot snapshot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::string> EncodeShared() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Replaces the generations with the record's (checked first; on error
  // nothing changes).
  absl::Status InstallShared(const state::StoredRecord& record, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes the changed CA if the record is still at revision_: true; false
  // when another replica changed it first, the CA now being the record's.
  // On error the caller restores its snapshot.
  // `as_leader`: through leader_writes_ when set (not_leader when refused).
  absl::StatusOr<bool> CommitShared(bool as_leader) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Persists a step: the manifest and bundle file, or the shared record.
  // Shared and lost to another replica: false, the record's state taken.
  absl::StatusOr<bool> Persist(bool as_leader = false) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string trust_domain_;
  const bool self_managed_;
  const std::string state_dir_;
  SelfManagedOptions options_;
  mutable sync::Mutex mu_;
  std::vector<std::unique_ptr<Generation>> generations_ ABSL_GUARDED_BY(mu_);
  int active_ ABSL_GUARDED_BY(mu_) = 0;  // generation number
  uint64_t bundle_version_ ABSL_GUARDED_BY(mu_) = 0;
  // Shared mode only.
  state::SharedStore* store_ = nullptr;
  std::string kek_;
  int64_t revision_ ABSL_GUARDED_BY(mu_) = 0;  // of the record this CA holds
  state::LeaderWrites* leader_writes_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace palisade::control::ca

#endif  // PALISADE_CONTROL_CA_CERTIFICATE_AUTHORITY_H_
