#include "identity/trust_bundle.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "identity/certificate.h"
#include "identity/spiffe_id.h"
#include "runtime/status/status_macros.h"

namespace palisade {
namespace identity {
namespace {

absl::Status BundleError(absl::string_view trust_domain, absl::string_view message) {
  return absl::InvalidArgumentError(
      absl::StrCat("trust bundle for \"", trust_domain, "\": ", message));
}

absl::Status CheckAnchor(X509* root) {
  if (root == nullptr) return absl::InvalidArgumentError("no certificate");
  const uint32_t flags = X509_get_extension_flags(root);
  ERR_clear_error();
  if (flags & EXFLAG_INVALID) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate ", Sha256Fingerprint(root), " has malformed extensions"));
  }
  if (!(flags & EXFLAG_CA)) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate ", Sha256Fingerprint(root),
                     " is not a CA (basicConstraints CA:true); trust anchors must be CAs"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status TrustBundleSet::Builder::AddPem(absl::string_view trust_domain,
                                             absl::string_view pem) {
  RETURN_IF_ERROR(ValidateTrustDomain(trust_domain));
  absl::StatusOr<std::vector<bssl::UniquePtr<X509>>> certs = ParsePemCertificates(pem);
  if (!certs.ok()) return BundleError(trust_domain, certs.status().message());
  for (const bssl::UniquePtr<X509>& cert : *certs) {
    if (absl::Status s = CheckAnchor(cert.get()); !s.ok()) {
      return BundleError(trust_domain, s.message());
    }
  }
  for (const bssl::UniquePtr<X509>& cert : *certs) {
    RETURN_IF_ERROR(Add(trust_domain, cert.get()));
  }
  return absl::OkStatus();
}

absl::Status TrustBundleSet::Builder::Add(absl::string_view trust_domain, X509* root) {
  RETURN_IF_ERROR(ValidateTrustDomain(trust_domain));
  if (absl::Status s = CheckAnchor(root); !s.ok()) return BundleError(trust_domain, s.message());
  auto it = roots_.find(trust_domain);
  if (it == roots_.end()) {
    it = roots_.emplace(std::string(trust_domain), std::vector<bssl::UniquePtr<X509>>()).first;
  }
  for (const bssl::UniquePtr<X509>& existing : it->second) {
    if (X509_cmp(existing.get(), root) == 0) return absl::OkStatus();
  }
  it->second.push_back(bssl::UpRef(root));
  return absl::OkStatus();
}

TrustBundleSet TrustBundleSet::Builder::Build() {
  auto domains = std::make_shared<Domains>();
  for (auto& [trust_domain, roots] : roots_) {
    Domain domain;
    domain.store.reset(X509_STORE_new());
    // Allocation failure here cannot be reported through this API; an empty or
    // partial store only ever makes verification fail (closed), never pass.
    for (bssl::UniquePtr<X509>& root : roots) {
      if (domain.store != nullptr) X509_STORE_add_cert(domain.store.get(), root.get());
      domain.fingerprints.push_back(Sha256Fingerprint(root.get()));
      domain.roots.push_back(std::move(root));
    }
    ERR_clear_error();
    domains->emplace(trust_domain, std::move(domain));
  }
  roots_.clear();
  return TrustBundleSet(std::move(domains));
}

TrustBundleSet::TrustBundleSet() : domains_(std::make_shared<const Domains>()) {}

TrustBundleSet::TrustBundleSet(std::shared_ptr<const Domains> domains)
    : domains_(std::move(domains)) {}

const TrustBundleSet::Domain* TrustBundleSet::Find(absl::string_view trust_domain) const {
  auto it = domains_->find(trust_domain);
  return it == domains_->end() ? nullptr : &it->second;
}

const std::vector<bssl::UniquePtr<X509>>* TrustBundleSet::RootsFor(
    absl::string_view trust_domain) const {
  const Domain* domain = Find(trust_domain);
  return domain == nullptr ? nullptr : &domain->roots;
}

X509_STORE* TrustBundleSet::StoreFor(absl::string_view trust_domain) const {
  const Domain* domain = Find(trust_domain);
  return domain == nullptr ? nullptr : domain->store.get();
}

absl::string_view TrustBundleSet::FingerprintOf(absl::string_view trust_domain,
                                                const X509* root) const {
  const Domain* domain = Find(trust_domain);
  if (domain == nullptr) return "";
  for (size_t i = 0; i < domain->roots.size(); ++i) {
    if (domain->roots[i].get() == root) return domain->fingerprints[i];
  }
  return "";
}

std::vector<std::string> TrustBundleSet::TrustDomains() const {
  std::vector<std::string> out;
  out.reserve(domains_->size());
  for (const auto& [trust_domain, domain] : *domains_) out.push_back(trust_domain);
  return out;  // std::map iterates in sorted order
}

size_t TrustBundleSet::root_count() const {
  size_t count = 0;
  for (const auto& [trust_domain, domain] : *domains_) count += domain.roots.size();
  return count;
}

std::map<std::string, std::vector<std::string>> TrustBundleSet::Fingerprints() const {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& [trust_domain, domain] : *domains_) out[trust_domain] = domain.fingerprints;
  return out;
}

}  // namespace identity
}  // namespace palisade
