// Micro-benchmarks of the identity core, with in-process ECDSA P-256 sign/verify
// baselines so every figure has its raw-crypto reference from the same run.
// bench/identity_vs_bssl.sh adds BoringSSL's own `bssl speed` figures beside them.
// Build with --config=opt.
#include <benchmark/benchmark.h>
#include <openssl/ec_key.h>
#include <openssl/ecdsa.h>
#include <openssl/sha.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "identity/certificate.h"
#include "identity/csr.h"
#include "identity/keys.h"
#include "identity/signer.h"
#include "identity/spiffe_id.h"
#include "identity/svid_verifier.h"
#include "identity/trust_bundle.h"

namespace palisade {
namespace identity {
namespace {

const absl::Time kNow = absl::Now();

template <typename T>
T OrDie(absl::StatusOr<T> value) {
  if (!value.ok()) {
    std::fprintf(stderr, "%s\n", value.status().ToString().c_str());
    std::abort();
  }
  return *std::move(value);
}

// A root, an intermediate under it, a leaf under each, and the bundle of the root.
struct Pki {
  bssl::UniquePtr<EVP_PKEY> root_key = OrDie(GenerateP256Key());
  bssl::UniquePtr<EVP_PKEY> intermediate_key = OrDie(GenerateP256Key());
  bssl::UniquePtr<EVP_PKEY> leaf_key = OrDie(GenerateP256Key());
  bssl::UniquePtr<X509> root = OrDie(CreateSelfSignedRoot(
      root_key.get(),
      {.trust_domain = "example.org", .now = kNow - absl::Hours(1), .ttl = absl::Hours(48)}));
  bssl::UniquePtr<X509> intermediate = OrDie(CreateIntermediate(
      intermediate_key.get(), {root.get(), root_key.get()},
      {.trust_domain = "example.org", .now = kNow - absl::Hours(1), .ttl = absl::Hours(24)}));
  CheckedCsr csr = OrDie(ParseAndCheckCsr(OrDie(CreateCsrDer(
      leaf_key.get(), OrDie(SpiffeId::Parse("spiffe://example.org/ns/shop/sa/cart"))))));
  bssl::UniquePtr<X509> leaf_under_root =
      OrDie(IssueSvid(csr, {root.get(), root_key.get()}, {.now = kNow}));
  bssl::UniquePtr<X509> leaf_under_intermediate =
      OrDie(IssueSvid(csr, {intermediate.get(), intermediate_key.get()}, {.now = kNow}));
  TrustBundleSet bundles = [this] {
    TrustBundleSet::Builder builder;
    if (!builder.Add("example.org", root.get()).ok()) std::abort();
    return builder.Build();
  }();
};

const Pki& ThePki() {
  static const Pki* pki = new Pki;
  return *pki;
}

void BM_SpiffeIdParse(benchmark::State& state) {
  const std::string uri = "spiffe://cluster.local/ns/shop/sa/cart";
  for (auto _ : state) benchmark::DoNotOptimize(SpiffeId::Parse(uri));
}
BENCHMARK(BM_SpiffeIdParse);

void VerifyChain(benchmark::State& state, std::vector<X509*> chain) {
  const Pki& pki = ThePki();
  const VerifyOptions options{.now = kNow, .peer_role = PeerRole::kClient};
  for (auto _ : state) {
    SvidVerification result = VerifySvidChain(chain, pki.bundles, options);
    if (!result.ok()) state.SkipWithError(result.detail.c_str());
    benchmark::DoNotOptimize(result);
  }
}

// One signature verified: root -> leaf.
void BM_VerifyRootToLeaf(benchmark::State& state) {
  VerifyChain(state, {ThePki().leaf_under_root.get()});
}
BENCHMARK(BM_VerifyRootToLeaf)->Unit(benchmark::kMicrosecond);

// Two signatures verified: root -> intermediate -> leaf.
void BM_VerifyRootToIntermediateToLeaf(benchmark::State& state) {
  VerifyChain(state, {ThePki().leaf_under_intermediate.get(), ThePki().intermediate.get()});
}
BENCHMARK(BM_VerifyRootToIntermediateToLeaf)->Unit(benchmark::kMicrosecond);

// As a TLS handshake sees it: DER in, parse, then verify (two signatures).
void BM_VerifyDerRootToIntermediateToLeaf(benchmark::State& state) {
  const Pki& pki = ThePki();
  const std::string leaf = CertificateToDer(pki.leaf_under_intermediate.get());
  const std::string intermediate = CertificateToDer(pki.intermediate.get());
  const std::vector<absl::string_view> chain = {leaf, intermediate};
  const VerifyOptions options{.now = kNow, .peer_role = PeerRole::kClient};
  for (auto _ : state) {
    SvidVerification result = VerifySvidChainDer(chain, pki.bundles, options);
    if (!result.ok()) state.SkipWithError(result.detail.c_str());
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(BM_VerifyDerRootToIntermediateToLeaf)->Unit(benchmark::kMicrosecond);

void BM_GenerateP256Key(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(GenerateP256Key());
}
BENCHMARK(BM_GenerateP256Key)->Unit(benchmark::kMicrosecond);

// One signature made.
void BM_CreateCsr(benchmark::State& state) {
  const Pki& pki = ThePki();
  const SpiffeId id = OrDie(SpiffeId::Parse("spiffe://example.org/ns/shop/sa/cart"));
  for (auto _ : state) benchmark::DoNotOptimize(CreateCsrDer(pki.leaf_key.get(), id));
}
BENCHMARK(BM_CreateCsr)->Unit(benchmark::kMicrosecond);

// One signature verified (the control plane's side of a CSR).
void BM_ParseAndCheckCsr(benchmark::State& state) {
  const Pki& pki = ThePki();
  const std::string der = OrDie(CreateCsrDer(
      pki.leaf_key.get(), OrDie(SpiffeId::Parse("spiffe://example.org/ns/shop/sa/cart"))));
  for (auto _ : state) benchmark::DoNotOptimize(ParseAndCheckCsr(der));
}
BENCHMARK(BM_ParseAndCheckCsr)->Unit(benchmark::kMicrosecond);

// One signature made: issuance of an SVID from a checked CSR.
void BM_IssueSvid(benchmark::State& state) {
  const Pki& pki = ThePki();
  const Issuer issuer{pki.intermediate.get(), pki.intermediate_key.get()};
  for (auto _ : state) {
    absl::StatusOr<bssl::UniquePtr<X509>> leaf = IssueSvid(pki.csr, issuer, {.now = kNow});
    if (!leaf.ok()) state.SkipWithError(std::string(leaf.status().message()).c_str());
    benchmark::DoNotOptimize(leaf);
  }
}
BENCHMARK(BM_IssueSvid)->Unit(benchmark::kMicrosecond);

// In-process references: one raw ECDSA P-256 signature over a SHA-256 digest, made
// and verified, as `bssl speed` measures it.
void BM_RawEcdsaP256Sign(benchmark::State& state) {
  const EC_KEY* key = EVP_PKEY_get0_EC_KEY(ThePki().leaf_key.get());
  uint8_t digest[SHA256_DIGEST_LENGTH] = {1, 2, 3};
  uint8_t sig[160];  // >= ECDSA_size() for P-256 (72)
  unsigned sig_len = 0;
  for (auto _ : state) {
    if (!ECDSA_sign(0, digest, sizeof(digest), sig, &sig_len, key)) state.SkipWithError("sign");
    benchmark::DoNotOptimize(sig);
  }
}
BENCHMARK(BM_RawEcdsaP256Sign)->Unit(benchmark::kMicrosecond);

void BM_RawEcdsaP256Verify(benchmark::State& state) {
  const EC_KEY* key = EVP_PKEY_get0_EC_KEY(ThePki().leaf_key.get());
  uint8_t digest[SHA256_DIGEST_LENGTH] = {1, 2, 3};
  uint8_t sig[160];  // >= ECDSA_size() for P-256 (72)
  unsigned sig_len = 0;
  ECDSA_sign(0, digest, sizeof(digest), sig, &sig_len, key);
  for (auto _ : state) {
    if (ECDSA_verify(0, digest, sizeof(digest), sig, sig_len, key) != 1) {
      state.SkipWithError("verify");
    }
  }
}
BENCHMARK(BM_RawEcdsaP256Verify)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace identity
}  // namespace palisade
