// The csr fuzzer's harness, shared with its seed test: what the fuzzer does
// with one input, returning the verdict so a test can check that valid CSRs
// are accepted and signed (a checker that refused everything would otherwise
// fuzz clean).
#ifndef PALISADE_TESTS_FUZZ_CSR_FUZZER_H_
#define PALISADE_TESTS_FUZZ_CSR_FUZZER_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace palisade::fuzz {

struct CsrVerdict {
  absl::Status check;     // ParseAndCheckCsr
  std::string spiffe_id;  // what the accepted CSR asks for
  absl::Status issue;     // IssueSvid by an example.org CA; unset if the check failed
};

// Checks the DER CSR `der` and has a CA for example.org sign what passes,
// checking the end-to-end property (abort on a violation): a CSR accepted for
// example.org yields an SVID the verifier accepts for both TLS roles; one for
// another trust domain is refused by the signer.
CsrVerdict FuzzCsr(absl::string_view der);

}  // namespace palisade::fuzz

#endif  // PALISADE_TESTS_FUZZ_CSR_FUZZER_H_
