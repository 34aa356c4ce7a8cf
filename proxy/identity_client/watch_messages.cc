#include "proxy/identity_client/watch_messages.h"

#include "absl/strings/str_cat.h"
#include "identity/certificate.h"
#include "runtime/status/status_macros.h"

namespace palisade::identity_client {

absl::StatusOr<identity::TrustBundleSet> BundleFromProto(
    const control::v1::TrustBundleUpdate& update) {
  identity::TrustBundleSet::Builder builder;
  for (const control::v1::TrustDomainBundle& domain : update.trust_domains()) {
    for (int i = 0; i < domain.root_certificates_der_size(); ++i) {
      absl::StatusOr<bssl::UniquePtr<X509>> root =
          identity::ParseDerCertificate(domain.root_certificates_der(i));
      absl::Status added =
          root.ok() ? builder.Add(domain.trust_domain(), root->get()) : root.status();
      if (!added.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("bundle version ", update.version(),
                                                       ", trust domain ", domain.trust_domain(),
                                                       ", root ", i, ": ", added.message()));
      }
    }
  }
  identity::TrustBundleSet bundles = builder.Build();
  if (bundles.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bundle version ", update.version(), " holds no root certificate"));
  }
  return bundles;
}

absl::StatusOr<credentials::CredentialMaterial> MaterialFromSvidUpdate(
    const control::v1::SvidUpdate& update, const identity::SpiffeId& requested,
    bssl::UniquePtr<EVP_PKEY> key, identity::TrustBundleSet bundles) {
  credentials::CredentialMaterial material;
  for (int i = 0; i < update.certificate_chain_der_size(); ++i) {
    absl::StatusOr<bssl::UniquePtr<X509>> cert =
        identity::ParseDerCertificate(update.certificate_chain_der(i));
    if (!cert.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("SVID chain certificate ", i, ": ", cert.status().message()));
    }
    material.chain.push_back(*std::move(cert));
  }
  if (material.chain.empty()) {
    return absl::InvalidArgumentError("the SvidUpdate holds no certificate");
  }
  ASSIGN_OR_RETURN(identity::SpiffeId id, identity::SpiffeIdOf(material.chain[0].get()));
  if (id != requested) {
    return absl::InvalidArgumentError(absl::StrCat("the SVID is for ", id.ToString(),
                                                   ", the CSR asked for ", requested.ToString()));
  }
  material.key = std::move(key);
  material.bundles = std::move(bundles);
  material.source = "control-plane";
  return material;
}

absl::StatusOr<std::shared_ptr<const identity::DenyList>> DenyListFromProto(
    const control::v1::DenyList& update) {
  identity::DenyList::Entries entries;
  for (int i = 0; i < update.entries_size(); ++i) {
    const control::v1::RevokedIdentity& e = update.entries(i);
    absl::StatusOr<identity::SpiffeId> id = identity::SpiffeId::Parse(e.spiffe_id());
    if (!id.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("deny-list version ", update.version(),
                                                     ", entry ", i, ": ", id.status().message()));
    }
    entries[id->ToString()] =
        absl::FromUnixSeconds(e.expires_at().seconds()) + absl::Nanoseconds(e.expires_at().nanos());
  }
  return std::make_shared<const identity::DenyList>(update.version(), std::move(entries));
}

std::vector<std::string> MissingTrustDomains(const identity::TrustBundleSet& bundles,
                                             const std::vector<std::string>& expected) {
  const std::map<std::string, std::vector<std::string>> present = bundles.Fingerprints();
  std::vector<std::string> missing;
  for (const std::string& domain : expected) {
    auto it = present.find(domain);
    if (it == present.end() || it->second.empty()) missing.push_back(domain);
  }
  return missing;
}

std::optional<absl::Time> RenewAfterOf(const control::v1::SvidUpdate& update) {
  if (!update.has_renew_after()) return std::nullopt;
  return absl::FromUnixSeconds(update.renew_after().seconds()) +
         absl::Nanoseconds(update.renew_after().nanos());
}

control::v1::ConnectionReport ConnectionReportOf(const std::map<std::string, uint64_t>& by_root) {
  control::v1::ConnectionReport report;
  for (const auto& [fingerprint, count] : by_root) {
    control::v1::RootUsage* usage = report.add_roots();
    usage->set_fingerprint_sha256(fingerprint);
    usage->set_live_connections(count);
  }
  return report;
}

}  // namespace palisade::identity_client
