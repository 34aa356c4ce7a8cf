// Fuzzes PEM parsing of certificate bundles (and of private keys, which share the
// PEM reader), the certificate helpers on whatever parses, and trust bundle
// construction. Checks that an accepted certificate survives a PEM round trip.
#include "tests/fuzz/pem_bundle_fuzzer.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "identity/certificate.h"
#include "identity/keys.h"
#include "identity/trust_bundle.h"

namespace palisade::fuzz {
namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

PemVerdict FuzzPemBundle(absl::string_view pem) {
  namespace identity = palisade::identity;
  PemVerdict verdict;

  absl::StatusOr<std::vector<bssl::UniquePtr<X509>>> certs = identity::ParsePemCertificates(pem);
  verdict.certificates = certs.status();
  if (certs.ok()) {
    Check(!certs->empty());
    verdict.certificate_count = certs->size();
    for (const bssl::UniquePtr<X509>& cert : *certs) {
      const std::string der = identity::CertificateToDer(cert.get());
      absl::StatusOr<std::vector<bssl::UniquePtr<X509>>> again =
          identity::ParsePemCertificates(identity::CertificateToPem(cert.get()));
      Check(again.ok() && again->size() == 1 &&
            identity::CertificateToDer(again->front().get()) == der);
      Check(identity::Sha256Fingerprint(cert.get()).size() == 64);
      identity::SerialHex(cert.get());
      identity::NotBefore(cert.get());
      identity::NotAfter(cert.get());
      identity::SpiffeIdOf(cert.get()).IgnoreError();
    }
  }

  identity::TrustBundleSet::Builder builder;
  verdict.bundle = builder.AddPem("example.org", pem);
  const bool added = verdict.bundle.ok();
  const identity::TrustBundleSet bundles = builder.Build();
  Check(added == (bundles.root_count() > 0));
  Check(!added || bundles.StoreFor("example.org") != nullptr);
  if (added) Check(bundles.Fingerprints().at("example.org").size() == bundles.root_count());

  absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> key = identity::ParsePrivateKeyPem(pem);
  verdict.key = key.status();
  if (key.ok()) identity::DescribeKey(key->get());
  return verdict;
}

}  // namespace palisade::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  palisade::fuzz::FuzzPemBundle(absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
