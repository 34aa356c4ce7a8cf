// Everything a handshake needs, as one immutable value: the SVID chain and
// its key, the trust bundles, and the SSL_CTXs built from them. Built and
// checked once per change; a connection keeps the snapshot it started with.
#ifndef PALISADE_PROXY_CREDENTIALS_CREDENTIAL_SNAPSHOT_H_
#define PALISADE_PROXY_CREDENTIALS_CREDENTIAL_SNAPSHOT_H_

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "identity/deny_list.h"
#include "identity/spiffe_id.h"
#include "identity/trust_bundle.h"
#include "runtime/tls/tls_context.h"

namespace palisade::credentials {

// What a source delivers: raw, unchecked.
struct CredentialMaterial {
  std::vector<bssl::UniquePtr<X509>> chain;  // leaf first, then intermediates
  bssl::UniquePtr<EVP_PKEY> key;
  identity::TrustBundleSet bundles;
  std::string source;  // "files", "control-plane": for logs
};

struct CredentialSnapshot {
  explicit CredentialSnapshot(identity::SpiffeId id) : spiffe_id(std::move(id)) {}

  uint64_t generation = 0;         // increases with every published snapshot
  uint64_t bundle_generation = 0;  // increases when the set of roots changes
  std::vector<bssl::UniquePtr<X509>> chain;
  bssl::UniquePtr<EVP_PKEY> key;
  identity::TrustBundleSet bundles;
  std::shared_ptr<const tls::TlsContext> tls;
  identity::SpiffeId spiffe_id;
  std::string serial;  // leaf serial, hex
  absl::Time not_before;
  absl::Time not_after;        // the leaf's
  absl::Time chain_not_after;  // earliest along leaf, intermediates and root
  std::string root_fingerprint;
  std::string source;
  absl::Time loaded_at;
  // Peers refused even with a valid SVID (the control plane's revocations);
  // null: none.
  std::shared_ptr<const identity::DenyList> deny_list;

  X509* leaf() const { return chain.front().get(); }
};

struct SnapshotOptions {
  absl::Time now;
  // If set, the SVID must carry exactly this SPIFFE ID.
  std::optional<identity::SpiffeId> expected_id;
  tls::TlsSettings tls;
  absl::Duration clock_skew = absl::ZeroDuration();
};

// Checks the material (the key matches the leaf; the chain is a valid
// X.509-SVID under its own trust domain's bundle, now; the expected identity)
// and builds the TLS contexts. Errors name the rule that failed.
absl::StatusOr<std::shared_ptr<CredentialSnapshot>> BuildSnapshot(
    CredentialMaterial material, const SnapshotOptions& options,
    std::shared_ptr<tls::TicketKeyRing> ticket_keys);

// `snapshot` with another deny-list: the same SVID, key, bundles and TLS
// contexts (nothing to check or build again).
std::shared_ptr<CredentialSnapshot> WithDenyList(const CredentialSnapshot& snapshot,
                                                 std::shared_ptr<const identity::DenyList> list);

}  // namespace palisade::credentials

#endif  // PALISADE_PROXY_CREDENTIALS_CREDENTIAL_SNAPSHOT_H_
