// Fuzzes PEM parsing of certificate bundles (and of private keys, which share the
// PEM reader), the certificate helpers on whatever parses, and trust bundle
// construction. Checks that an accepted certificate survives a PEM round trip.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "identity/certificate.h"
#include "identity/keys.h"
#include "identity/trust_bundle.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace identity = palisade::identity;
  const absl::string_view pem(reinterpret_cast<const char*>(data), size);

  absl::StatusOr<std::vector<bssl::UniquePtr<X509>>> certs = identity::ParsePemCertificates(pem);
  if (certs.ok()) {
    Check(!certs->empty());
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
  const bool added = builder.AddPem("example.org", pem).ok();
  const identity::TrustBundleSet bundles = builder.Build();
  Check(added == (bundles.root_count() > 0));
  Check(!added || bundles.StoreFor("example.org") != nullptr);
  if (added) Check(bundles.Fingerprints().at("example.org").size() == bundles.root_count());

  absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> key = identity::ParsePrivateKeyPem(pem);
  if (key.ok()) identity::DescribeKey(key->get());
  return 0;
}
