// What a proxy without an SVID starts from: the roots that authenticate the
// control plane (bootstrap_bundle_file), the credential it presents in Hello
// (a join token or a Kubernetes service-account token, both read from files
// on every use so rotated tokens are picked up), and the SPIFFE ID its CSR
// must ask for.
#ifndef PALISADE_PROXY_IDENTITY_CLIENT_BOOTSTRAP_CREDENTIAL_H_
#define PALISADE_PROXY_IDENTITY_CLIENT_BOOTSTRAP_CREDENTIAL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "identity/spiffe_id.h"
#include "identity/trust_bundle.h"
#include "proto/palisade/config/v1/config.pb.h"
#include "proto/palisade/control/v1/control.pb.h"

namespace palisade::identity_client {

// The roots of bootstrap_bundle_file, as the bundle of the trust domain of
// server_spiffe_id. Errors name the file and the problem.
absl::StatusOr<identity::TrustBundleSet> LoadBootstrapBundle(
    const config::v1::ControlPlaneIdentitySource& config);

// Reads the configured token file into `hello`'s credential. Errors name the
// file (never the token). Surrounding whitespace is dropped.
absl::Status AddBootstrapCredential(const config::v1::ControlPlaneIdentitySource& config,
                                    control::v1::Hello* hello);

// "spiffe://<trust_domain>/ns/NS/sa/SA" from the `sub` claim
// ("system:serviceaccount:NS:SA") of a projected service-account token (a
// JWT), the way palisade-control maps it. The signature is not checked here:
// the control plane does that; this only names what the CSR asks for.
absl::StatusOr<identity::SpiffeId> SpiffeIdFromServiceAccountToken(absl::string_view token,
                                                                   absl::string_view trust_domain);

// The SPIFFE ID this proxy's CSRs carry: `configured` (identity.spiffe_id)
// if set; else, for a service-account token, the one its `sub` maps to.
// InvalidArgument when neither names it (a join token needs identity.spiffe_id).
absl::StatusOr<identity::SpiffeId> ResolveWorkloadId(
    absl::string_view configured, const config::v1::ControlPlaneIdentitySource& config);

}  // namespace palisade::identity_client

#endif  // PALISADE_PROXY_IDENTITY_CLIENT_BOOTSTRAP_CREDENTIAL_H_
