// Fuzzes certificate-chain verification input: DER parsing of a peer chain and of a
// trust anchor, bundle construction, and every rule of VerifySvidChainDer. Checks
// the result's own invariants (a verdict is ok exactly when it carries an SVID;
// the SVID names the leaf's SPIFFE ID; failures say why).
#include "tests/fuzz/chain_verify_fuzzer.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "identity/certificate.h"
#include "identity/trust_bundle.h"
#include "tests/fuzz/chain_input.h"

namespace palisade::fuzz {
namespace {

using palisade::identity::PeerRole;

void Check(bool condition) {
  if (!condition) std::abort();
}

const absl::Time kNow = kChainFuzzNow;

}  // namespace

std::optional<identity::SvidVerification> FuzzChainVerify(absl::string_view data) {
  const ChainInput input = DecodeChainInput(data);
  if (input.certificates.empty()) return std::nullopt;

  // The anchor goes into the bundle of the trust domain the leaf claims, if any.
  std::string trust_domain = "example.org";
  if (input.certificates.size() > 1) {
    absl::StatusOr<bssl::UniquePtr<X509>> leaf =
        identity::ParseDerCertificate(input.certificates[1]);
    if (leaf.ok()) {
      absl::StatusOr<identity::SpiffeId> id = identity::SpiffeIdOf(leaf->get());
      if (id.ok()) trust_domain = id->trust_domain();
    }
  }
  identity::TrustBundleSet::Builder builder;
  absl::StatusOr<bssl::UniquePtr<X509>> anchor =
      identity::ParseDerCertificate(input.certificates[0]);
  if (anchor.ok()) builder.Add(trust_domain, anchor->get()).IgnoreError();
  const identity::TrustBundleSet bundles = builder.Build();

  identity::VerifyOptions options;
  options.now = kNow;
  options.peer_role = static_cast<PeerRole>((input.flags & 3) % 3);
  if (input.flags & 4) options.clock_skew = absl::Minutes(5);

  std::vector<absl::string_view> chain(input.certificates.begin() + 1, input.certificates.end());
  const identity::SvidVerification result = identity::VerifySvidChainDer(chain, bundles, options);
  Check(result.ok() == result.svid.has_value());
  Check(result.ok() == result.detail.empty());
  if (result.ok()) {
    absl::StatusOr<bssl::UniquePtr<X509>> leaf = identity::ParseDerCertificate(chain[0]);
    Check(leaf.ok());
    absl::StatusOr<identity::SpiffeId> id = identity::SpiffeIdOf(leaf->get());
    Check(id.ok() && *id == result.svid->spiffe_id);
    Check(result.svid->chain_not_after <= result.svid->leaf_not_after);
    Check(result.svid->leaf_not_after + options.clock_skew >= kNow);
    Check(result.svid->root_fingerprint.size() == 64);
  }
  return result;
}

}  // namespace palisade::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  palisade::fuzz::FuzzChainVerify(absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
