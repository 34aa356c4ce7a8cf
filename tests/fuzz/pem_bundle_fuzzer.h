// The pem_bundle fuzzer's harness, shared with its seed test: what the fuzzer
// does with one input, returning what each reader made of it so a test can
// check that valid PEM is accepted (readers that refused everything would
// otherwise fuzz clean).
#ifndef PALISADE_TESTS_FUZZ_PEM_BUNDLE_FUZZER_H_
#define PALISADE_TESTS_FUZZ_PEM_BUNDLE_FUZZER_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace palisade::fuzz {

struct PemVerdict {
  absl::Status certificates;  // ParsePemCertificates
  size_t certificate_count = 0;
  absl::Status bundle;  // TrustBundleSet::Builder::AddPem
  absl::Status key;     // ParsePrivateKeyPem
};

// Runs every reader on `pem`, after checking their invariants (abort on a
// violation): an accepted certificate survives a PEM round trip, a bundle is
// added exactly when it holds roots.
PemVerdict FuzzPemBundle(absl::string_view pem);

}  // namespace palisade::fuzz

#endif  // PALISADE_TESTS_FUZZ_PEM_BUNDLE_FUZZER_H_
