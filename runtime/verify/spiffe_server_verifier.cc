#include "runtime/verify/spiffe_server_verifier.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "identity/svid_verifier.h"

namespace palisade::verify {

absl::Status VerifySpiffeServer(const SSL* ssl, const identity::TrustBundleSet& bundles,
                                const identity::SpiffeId& expected, absl::Time now) {
  STACK_OF(X509)* chain = SSL_get_peer_full_cert_chain(ssl);
  if (chain == nullptr || sk_X509_num(chain) == 0) {
    return absl::UnauthenticatedError("the server sent no certificate");
  }
  std::vector<X509*> certs;
  for (size_t i = 0; i < sk_X509_num(chain); ++i) certs.push_back(sk_X509_value(chain, i));
  identity::VerifyOptions options;
  options.now = now;
  options.peer_role = identity::PeerRole::kServer;
  options.expected_trust_domain = expected.trust_domain();
  const identity::SvidVerification verdict = identity::VerifySvidChain(certs, bundles, options);
  if (!verdict.ok()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "server certificate does not verify against the bundle of trust domain \"",
        expected.trust_domain(), "\": ", identity::ReasonCode(verdict.reason), ": ",
        verdict.detail));
  }
  if (verdict.svid->spiffe_id.ToString() != expected.ToString()) {
    return absl::PermissionDeniedError(absl::StrCat("server presents ",
                                                    verdict.svid->spiffe_id.ToString(), ", not ",
                                                    expected.ToString()));
  }
  return absl::OkStatus();
}

}  // namespace palisade::verify
