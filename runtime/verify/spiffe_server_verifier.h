// Judges a TLS server that authenticates with an X.509-SVID (a SPIFFE bundle
// endpoint of the https_spiffe profile): its chain must verify against the
// given bundle of the expected ID's trust domain (never another domain's),
// follow the X.509-SVID rules for a server, and carry exactly the expected
// SPIFFE ID.
#ifndef PALISADE_RUNTIME_VERIFY_SPIFFE_SERVER_VERIFIER_H_
#define PALISADE_RUNTIME_VERIFY_SPIFFE_SERVER_VERIFIER_H_

#include <openssl/ssl.h>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "identity/spiffe_id.h"
#include "identity/trust_bundle.h"

namespace palisade::verify {

// OK when `ssl`'s server chain verifies under `bundles`' anchors for
// `expected`'s trust domain at `now` and its leaf is `expected`.
// Unauthenticated naming the rule when the chain does not verify;
// PermissionDenied naming both IDs when it verifies but is another ID.
absl::Status VerifySpiffeServer(const SSL* ssl, const identity::TrustBundleSet& bundles,
                                const identity::SpiffeId& expected, absl::Time now);

}  // namespace palisade::verify

#endif  // PALISADE_RUNTIME_VERIFY_SPIFFE_SERVER_VERIFIER_H_
