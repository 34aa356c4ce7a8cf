// Conversions between the identity stream's messages and the proxy's types:
// a TrustBundleUpdate into a TrustBundleSet, an SvidUpdate into credential
// material, live connections by root into a ConnectionReport.
#ifndef PALISADE_PROXY_IDENTITY_CLIENT_WATCH_MESSAGES_H_
#define PALISADE_PROXY_IDENTITY_CLIENT_WATCH_MESSAGES_H_

#include <openssl/evp.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "identity/deny_list.h"
#include "identity/spiffe_id.h"
#include "identity/trust_bundle.h"
#include "proto/palisade/control/v1/control.pb.h"
#include "proxy/credentials/credential_snapshot.h"

namespace palisade::identity_client {

// Every root of every trust domain in `update`; all or nothing. Errors name
// the trust domain and the root's index. An update without roots is refused:
// installing it would trust nobody.
absl::StatusOr<identity::TrustBundleSet> BundleFromProto(
    const control::v1::TrustBundleUpdate& update);

// The chain of `update` (leaf first) with the key its CSR was made from and
// the bundles to verify it under, for CredentialStore::Update (which checks
// the rest). Errors name the certificate that does not parse, or a leaf for
// another identity than `requested` (what the CSR asked for).
absl::StatusOr<credentials::CredentialMaterial> MaterialFromSvidUpdate(
    const control::v1::SvidUpdate& update, const identity::SpiffeId& requested,
    bssl::UniquePtr<EVP_PKEY> key, identity::TrustBundleSet bundles);

// The control plane's deny-list; all or nothing. Errors name the entry whose
// SPIFFE ID does not parse.
absl::StatusOr<std::shared_ptr<const identity::DenyList>> DenyListFromProto(
    const control::v1::DenyList& update);

// Those of `expected` (the configured federated trust domains) that have no
// roots in `bundles`, in the configured order.
std::vector<std::string> MissingTrustDomains(const identity::TrustBundleSet& bundles,
                                             const std::vector<std::string>& expected);

// The server's renewal hint, if it sent one.
std::optional<absl::Time> RenewAfterOf(const control::v1::SvidUpdate& update);

// Root fingerprint (SHA-256 hex) -> live connections, as the stream reports it.
control::v1::ConnectionReport ConnectionReportOf(const std::map<std::string, uint64_t>& by_root);

}  // namespace palisade::identity_client

#endif  // PALISADE_PROXY_IDENTITY_CLIENT_WATCH_MESSAGES_H_
