// CPU cost of palisade-control's per-request work, one core: checking a CSR
// and signing its SVID (what one issuance costs), the parts separately, and
// verifying the bootstrap credentials (service-account JWTs, join tokens).
//
//   bazel run --config=opt //bench:control_issuance_benchmark
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "control/auth/join_token_store.h"
#include "control/auth/jwks.h"
#include "control/auth/service_account_verifier.h"
#include "control/ca/certificate_authority.h"
#include "control/state/state_files.h"
#include "identity/certificate.h"
#include "identity/csr.h"
#include "identity/keys.h"
#include "tests/util/test_jwt.h"

namespace palisade::control {
namespace {

constexpr char kTd[] = "example.org";

std::string TempDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(base != nullptr ? base : "/tmp", "/bench-", name, "-", getpid());
  (void)state::EnsureDirectory(dir, 0700);
  return dir;
}

ca::CertificateAuthority& Ca() {
  static ca::CertificateAuthority* ca =
      ca::CertificateAuthority::OpenSelfManaged({kTd, TempDir("ca")}, absl::Now())->release();
  return *ca;
}

std::string CsrDer() {
  auto key = identity::GenerateP256Key();
  return *identity::CreateCsrDer(
      key->get(), *identity::SpiffeId::Parse("spiffe://example.org/ns/shop/sa/cart"));
}

identity::LeafOptions Leaf() {
  identity::LeafOptions o;
  o.now = absl::Now();
  o.ttl = absl::Hours(1);
  return o;
}

// One issuance as the service does it: parse and check the CSR, sign the
// SVID, encode the chain.
void BM_IssueFromCsr(benchmark::State& state) {
  const std::string der = CsrDer();
  const identity::LeafOptions options = Leaf();
  for (auto _ : state) {
    auto csr = identity::ParseAndCheckCsr(der);
    auto svid = Ca().Issue(*csr, options);
    std::string leaf = identity::CertificateToDer(svid->leaf.get());
    std::string intermediate = identity::CertificateToDer(svid->intermediates[0].get());
    benchmark::DoNotOptimize(leaf);
    benchmark::DoNotOptimize(intermediate);
  }
}
BENCHMARK(BM_IssueFromCsr);

void BM_ParseAndCheckCsr(benchmark::State& state) {
  const std::string der = CsrDer();
  for (auto _ : state) benchmark::DoNotOptimize(identity::ParseAndCheckCsr(der));
}
BENCHMARK(BM_ParseAndCheckCsr);

void BM_SignSvid(benchmark::State& state) {
  const auto csr = identity::ParseAndCheckCsr(CsrDer());
  const identity::LeafOptions options = Leaf();
  for (auto _ : state) benchmark::DoNotOptimize(Ca().Issue(*csr, options));
}
BENCHMARK(BM_SignSvid);

void VerifyToken(benchmark::State& state, const std::string& alg) {
  static testing::TestJwtIssuer* issuer = new testing::TestJwtIssuer();
  auth::ServiceAccountVerifier verifier(*auth::Jwks::Parse(issuer->JwksJson()),
                                        {kTd, "https://k8s", "palisade", absl::Seconds(30)});
  const absl::Time now = absl::Now();
  const std::string token = issuer->Sign(
      alg, testing::TestJwtIssuer::Claims("https://k8s", "palisade", "shop", "cart", now));
  for (auto _ : state) {
    auto id = verifier.Verify(token, now);
    if (!id.ok()) state.SkipWithError("token refused");
    benchmark::DoNotOptimize(id);
  }
}
void BM_VerifyServiceAccountTokenRs256(benchmark::State& state) { VerifyToken(state, "RS256"); }
void BM_VerifyServiceAccountTokenEs256(benchmark::State& state) { VerifyToken(state, "ES256"); }
BENCHMARK(BM_VerifyServiceAccountTokenRs256);
BENCHMARK(BM_VerifyServiceAccountTokenEs256);

void BM_AuthenticateJoinToken(benchmark::State& state) {
  auto store = *auth::JoinTokenStore::Open(TempDir("tokens") + "/tokens.json");
  const absl::Time now = absl::Now();
  const auto id = *identity::SpiffeId::Parse("spiffe://example.org/host/a");
  for (int i = 0; i < 1000; ++i) (void)store->Create(id, absl::Hours(1), true, now);
  const std::string token = store->Create(id, absl::Hours(1), true, now)->token;
  for (auto _ : state) benchmark::DoNotOptimize(store->Authenticate(token, now));
}
BENCHMARK(BM_AuthenticateJoinToken);

}  // namespace
}  // namespace palisade::control

BENCHMARK_MAIN();
