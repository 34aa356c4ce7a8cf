// Where every TLS peer is judged: the data plane's connections, the identity
// port, the control-plane client and the test servers all ask here, so a
// reason code means the same thing everywhere. A peer passes when its chain
// is an X.509-SVID under the bundle of its own trust domain (identity's
// rules) and its SPIFFE ID is allowed by what the endpoint accepts.
#ifndef PALISADE_RUNTIME_VERIFY_PEER_VERIFIER_H_
#define PALISADE_RUNTIME_VERIFY_PEER_VERIFIER_H_

#include <openssl/ssl.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "identity/authz_policy.h"
#include "identity/deny_list.h"
#include "identity/gateway_policy.h"
#include "identity/gateway_trust.h"
#include "identity/spiffe_id.h"
#include "identity/svid_verifier.h"
#include "identity/trust_bundle.h"
#include "identity/verify_reason.h"
#include "runtime/verify/verified_chain_cache.h"

namespace palisade::verify {

struct PeerVerdict {
  identity::VerifyReason reason = identity::VerifyReason::kOk;
  std::string detail;  // names the rule that failed; empty when ok
  // The peer's SVID: set when it verified, including when the peer is then
  // not authorized (so a refusal can name who was refused).
  std::optional<identity::VerifiedSvid> svid;
  // Instead, on a gateway (PeerCheck::gateway_trust): the client's certificate.
  std::optional<identity::VerifiedClient> client;

  bool ok() const { return reason == identity::VerifyReason::kOk; }
  // Allowed in without a certificate (PeerCheck::certificate_optional).
  bool anonymous() const { return ok() && !svid.has_value() && !client.has_value(); }
  // Who the peer is, for logs and metrics: the SPIFFE ID or the client's
  // identity; "" when neither verified.
  std::string PeerId() const;
};

// What one endpoint accepts, for one handshake.
struct PeerCheck {
  const identity::TrustBundleSet* bundles = nullptr;  // required
  // The clock, the skew, the role the peer plays (for its key usages), and
  // the trust domain its leaf must belong to, if any.
  identity::VerifyOptions verify;
  // A peer that sends no certificate passes, unauthenticated (the identity
  // port: a proxy's first contact has none).
  bool certificate_optional = false;
  // Identities revoked by the control plane: refused ("revoked") even with a
  // valid SVID, before authorization. Null: none.
  const identity::DenyList* deny_list = nullptr;
  // Who may connect once the SVID verified: see PeerAllowed.
  const identity::AuthorizationPolicy* policy = nullptr;
  std::string default_trust_domain;
  // Words for a refusal: "<id> is not allowed by <authorizer>, expected
  // <expected>" ("listener in"; "listener out", "spiffe://td/ns/a/sa/b").
  // Empty: "<id> is not authorized". Must outlive the check.
  absl::string_view authorizer;
  absl::string_view expected;
  // Chains this thread verified before: a reconnecting peer skips the
  // signature checks of a chain it already passed under the same bundle
  // generation. Validity times and authorization are checked every time.
  VerifiedChainCache* cache = nullptr;
  uint64_t bundle_generation = 0;
  // A gateway for clients outside the mesh: the chain is judged by this
  // trust store (never the bundles, the SVID rules or the cache) and the
  // client admitted by gateway_policy (null: nobody).
  const identity::GatewayTrust* gateway_trust = nullptr;
  const identity::GatewayPolicy* gateway_policy = nullptr;
  identity::IdentityFrom identity_from = identity::IdentityFrom::kDnsSan;
};

// The one authorization rule: `policy` when there is one; else any peer of
// `default_trust_domain`; else (both empty) any peer whose SVID verified.
// Admission and re-authentication of live connections both ask it.
bool PeerAllowed(const identity::AuthorizationPolicy* policy,
                 absl::string_view default_trust_domain, const identity::SpiffeId& peer);

// The verdict on the certificate chain `ssl`'s peer sent (in a verify
// callback, or after a resumed handshake, whose session recorded it).
PeerVerdict VerifyPeer(const SSL* ssl, const PeerCheck& check);
// The same on `chain`, that peer chain already parsed (PeerChainOf), or null.
PeerVerdict VerifyPeer(const SSL* ssl, STACK_OF(X509) * chain, const PeerCheck& check);

// BoringSSL's answer for a verdict: continue, or abort the handshake with
// the TLS alert that tells the peer why.
ssl_verify_result_t ToVerifyResult(const PeerVerdict& verdict, uint8_t* out_alert);

}  // namespace palisade::verify

#endif  // PALISADE_RUNTIME_VERIFY_PEER_VERIFIER_H_
