#include "proxy/credentials/credential_snapshot.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "identity/certificate.h"
#include "identity/keys.h"
#include "identity/svid_verifier.h"
#include "identity/verify_reason.h"
#include "runtime/status/status_macros.h"

namespace palisade::credentials {

absl::StatusOr<std::shared_ptr<CredentialSnapshot>> BuildSnapshot(
    CredentialMaterial material, const SnapshotOptions& options,
    std::shared_ptr<tls::TicketKeyRing> ticket_keys) {
  if (material.chain.empty()) {
    return absl::InvalidArgumentError("the certificate chain holds no certificate");
  }
  if (material.key == nullptr) return absl::InvalidArgumentError("no private key");
  if (material.bundles.root_count() == 0) {
    return absl::InvalidArgumentError("the trust bundle holds no root certificate");
  }
  if (!identity::KeyMatchesCertificate(material.key.get(), material.chain.front().get())) {
    return absl::InvalidArgumentError("the private key does not match the SVID leaf certificate");
  }

  // Our own SVID must pass the same rules we apply to peers: otherwise every
  // peer would refuse it and the running identity is the better one to keep.
  std::vector<X509*> chain;
  for (const auto& cert : material.chain) chain.push_back(cert.get());
  identity::VerifyOptions verify;
  verify.now = options.now;
  verify.clock_skew = options.clock_skew;
  const identity::SvidVerification verified =
      identity::VerifySvidChain(chain, material.bundles, verify);
  if (!verified.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("the SVID is not valid under its trust bundle (",
                                                   identity::ReasonCode(verified.reason),
                                                   "): ", verified.detail));
  }
  if (options.expected_id.has_value() && verified.svid->spiffe_id != *options.expected_id) {
    return absl::InvalidArgumentError(absl::StrCat("the SVID is for ",
                                                   verified.svid->spiffe_id.ToString(),
                                                   ", expected ", options.expected_id->ToString()));
  }

  auto snapshot = std::make_shared<CredentialSnapshot>(verified.svid->spiffe_id);
  snapshot->chain = std::move(material.chain);
  snapshot->key = std::move(material.key);
  snapshot->bundles = std::move(material.bundles);
  snapshot->source = std::move(material.source);
  snapshot->loaded_at = options.now;
  snapshot->serial = verified.svid->leaf_serial;
  snapshot->not_before = identity::NotBefore(chain.front());
  snapshot->not_after = verified.svid->leaf_not_after;
  snapshot->chain_not_after = verified.svid->chain_not_after;
  snapshot->root_fingerprint = verified.svid->root_fingerprint;

  ASSIGN_OR_RETURN(snapshot->tls, tls::TlsContext::Create(chain, snapshot->key.get(), options.tls,
                                                          std::move(ticket_keys)));
  return snapshot;
}

std::shared_ptr<CredentialSnapshot> WithDenyList(const CredentialSnapshot& snapshot,
                                                 std::shared_ptr<const identity::DenyList> list) {
  auto copy = std::make_shared<CredentialSnapshot>(snapshot.spiffe_id);
  copy->generation = snapshot.generation;
  copy->bundle_generation = snapshot.bundle_generation;
  for (const auto& cert : snapshot.chain) copy->chain.push_back(bssl::UpRef(cert));
  copy->key = bssl::UpRef(snapshot.key);
  copy->bundles = snapshot.bundles;
  copy->tls = snapshot.tls;
  copy->serial = snapshot.serial;
  copy->not_before = snapshot.not_before;
  copy->not_after = snapshot.not_after;
  copy->chain_not_after = snapshot.chain_not_after;
  copy->root_fingerprint = snapshot.root_fingerprint;
  copy->source = snapshot.source;
  copy->loaded_at = snapshot.loaded_at;
  copy->deny_list = std::move(list);
  return copy;
}

}  // namespace palisade::credentials
