// The control plane's CA: the roots in the trust bundle and the intermediate
// that signs X.509-SVIDs. Self-managed (root and intermediate made on first
// start and kept in <state_dir>/ca, with a manifest of checksums as the commit
// point) or plug-in (an operator's intermediate, its chain and root bundle).
// Root rollover adds a second generation, switches issuance to it and retires
// the first.
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

 private:
  struct Generation;
  CertificateAuthority(std::string trust_domain, bool self_managed, std::string state_dir);

  absl::Status LoadManifest(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CreateGeneration(int number, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteManifest() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteBundleFile() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const Generation* Active() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string trust_domain_;
  const bool self_managed_;
  const std::string state_dir_;
  SelfManagedOptions options_;
  mutable sync::Mutex mu_;
  std::vector<std::unique_ptr<Generation>> generations_ ABSL_GUARDED_BY(mu_);
  int active_ ABSL_GUARDED_BY(mu_) = 0;  // generation number
  uint64_t bundle_version_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace palisade::control::ca

#endif  // PALISADE_CONTROL_CA_CERTIFICATE_AUTHORITY_H_
