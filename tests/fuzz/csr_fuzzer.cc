// Fuzzes CSR parsing and checking, and then the signer with whatever passes. The
// property checked end to end: every CSR that ParseAndCheckCsr accepts for the
// issuer's trust domain yields an SVID that VerifySvidChain accepts for both TLS
// roles, and a CSR for another trust domain is refused by the signer.
#include "tests/fuzz/csr_fuzzer.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "identity/csr.h"
#include "identity/keys.h"
#include "identity/signer.h"
#include "identity/svid_verifier.h"
#include "identity/trust_bundle.h"

namespace palisade::fuzz {
namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

// One CA for the whole fuzzing session (key generation per input would dominate).
struct Ca {
  bssl::UniquePtr<EVP_PKEY> key;
  bssl::UniquePtr<X509> root;
  identity::TrustBundleSet bundles;
};

const Ca& TheCa() {
  static const Ca* ca = [] {
    auto* ca = new Ca;
    ca->key = *identity::GenerateP256Key();
    ca->root = *identity::CreateSelfSignedRoot(
        ca->key.get(), {.trust_domain = "example.org", .now = kNow, .ttl = absl::Hours(24)});
    identity::TrustBundleSet::Builder builder;
    Check(builder.Add("example.org", ca->root.get()).ok());
    ca->bundles = builder.Build();
    return ca;
  }();
  return *ca;
}

}  // namespace

CsrVerdict FuzzCsr(absl::string_view der) {
  const Ca& ca = TheCa();
  CsrVerdict verdict;
  absl::StatusOr<identity::CheckedCsr> csr = identity::ParseAndCheckCsr(der);
  verdict.check = csr.status();
  if (!csr.ok()) return verdict;
  verdict.spiffe_id = csr->spiffe_id.ToString();
  Check(identity::CheckKeyStrength(csr->public_key.get(), identity::KeyPolicy::kCsr).ok());

  absl::StatusOr<bssl::UniquePtr<X509>> leaf =
      identity::IssueSvid(*csr, {ca.root.get(), ca.key.get()}, {.now = kNow});
  verdict.issue = leaf.status();
  if (csr->spiffe_id.trust_domain() != "example.org") {
    Check(!leaf.ok());
    return verdict;
  }
  Check(leaf.ok());
  for (identity::PeerRole role : {identity::PeerRole::kClient, identity::PeerRole::kServer}) {
    identity::SvidVerification result =
        identity::VerifySvidChain({leaf->get()}, ca.bundles, {.now = kNow, .peer_role = role});
    Check(result.ok() && result.svid->spiffe_id == csr->spiffe_id);
  }
  return verdict;
}

}  // namespace palisade::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  palisade::fuzz::FuzzCsr(absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
