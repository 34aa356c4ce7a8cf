// Trust bundles: the CA certificates trusted for each SPIFFE trust domain (several
// domains at once for federation, several roots per domain for root rollover),
// with each domain's X509_STORE built once, when the set is built.
#ifndef PALISADE_IDENTITY_TRUST_BUNDLE_H_
#define PALISADE_IDENTITY_TRUST_BUNDLE_H_

#include <openssl/x509.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace palisade {
namespace identity {

// Immutable set of trust anchors by trust domain. Copies share one immutable state,
// so a copy is a reference-count increment; any thread may use a set concurrently
// (BoringSSL's X509_STORE locks its own lookups).
class TrustBundleSet {
 public:
  // Collects anchors; single-threaded. Every Add is all-or-nothing.
  class Builder {
   public:
    // Adds every certificate of `pem` (see ParsePemCertificates) to `trust_domain`.
    absl::Status AddPem(absl::string_view trust_domain, absl::string_view pem);
    // Adds `root` (the set takes its own reference). An anchor must be a CA
    // (basicConstraints CA:true) with well-formed extensions; the same certificate
    // added twice to one domain is kept once.
    absl::Status Add(absl::string_view trust_domain, X509* root);
    // The set of everything added so far; leaves the builder empty.
    TrustBundleSet Build();

   private:
    std::map<std::string, std::vector<bssl::UniquePtr<X509>>, std::less<>> roots_;
  };

  // An empty set: trusts nothing.
  TrustBundleSet();

  // The anchors of `trust_domain`, in the order added; nullptr if none.
  const std::vector<bssl::UniquePtr<X509>>* RootsFor(absl::string_view trust_domain) const;
  // The store holding exactly the anchors of `trust_domain`; nullptr if none. Owned by
  // the set; valid while any copy of the set lives. Do not modify it.
  X509_STORE* StoreFor(absl::string_view trust_domain) const;
  // The fingerprint (Sha256Fingerprint) of `root` if it is one of the anchors of
  // `trust_domain` (compared by pointer, as X509_STORE hands them back); else "".
  absl::string_view FingerprintOf(absl::string_view trust_domain, const X509* root) const;

  std::vector<std::string> TrustDomains() const;  // sorted
  size_t root_count() const;
  bool empty() const { return root_count() == 0; }
  // Trust domain -> fingerprints of its anchors, for display (/certs, logs).
  std::map<std::string, std::vector<std::string>> Fingerprints() const;

 private:
  struct Domain {
    std::vector<bssl::UniquePtr<X509>> roots;
    std::vector<std::string> fingerprints;  // parallel to roots
    bssl::UniquePtr<X509_STORE> store;
  };
  using Domains = std::map<std::string, Domain, std::less<>>;

  explicit TrustBundleSet(std::shared_ptr<const Domains> domains);
  const Domain* Find(absl::string_view trust_domain) const;

  std::shared_ptr<const Domains> domains_;
};

}  // namespace identity
}  // namespace palisade

#endif  // PALISADE_IDENTITY_TRUST_BUNDLE_H_
