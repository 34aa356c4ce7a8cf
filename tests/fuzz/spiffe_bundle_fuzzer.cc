// Fuzzes the SPIFFE bundle format (identity/spiffe_bundle): JSON, JWK
// members, base64 and DER of whatever a foreign bundle endpoint sends.
// Checks that an accepted bundle survives a serialize/parse round trip and
// that serializing is deterministic.
#include "tests/fuzz/spiffe_bundle_fuzzer.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "identity/certificate.h"
#include "identity/spiffe_bundle.h"

namespace palisade::fuzz {
namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

SpiffeBundleVerdict FuzzSpiffeBundle(absl::string_view json) {
  namespace identity = palisade::identity;
  SpiffeBundleVerdict verdict;
  absl::StatusOr<identity::SpiffeBundle> bundle =
      identity::ParseSpiffeBundle(std::string_view(json.data(), json.size()), "example.org");
  verdict.status = bundle.status();
  if (!bundle.ok()) return verdict;
  Check(!bundle->x509_authorities.empty());
  verdict.authorities = bundle->x509_authorities.size();
  const std::string text = identity::SerializeSpiffeBundle(*bundle);
  absl::StatusOr<identity::SpiffeBundle> again = identity::ParseSpiffeBundle(text, "example.org");
  Check(again.ok());
  Check(again->x509_authorities.size() == bundle->x509_authorities.size());
  for (size_t i = 0; i < again->x509_authorities.size(); ++i) {
    Check(identity::CertificateToDer(again->x509_authorities[i].get()) ==
          identity::CertificateToDer(bundle->x509_authorities[i].get()));
  }
  Check(again->sequence == bundle->sequence);
  Check(again->refresh_hint == bundle->refresh_hint);
  Check(identity::SerializeSpiffeBundle(*again) == text);
  return verdict;
}

}  // namespace palisade::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  palisade::fuzz::FuzzSpiffeBundle(absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
