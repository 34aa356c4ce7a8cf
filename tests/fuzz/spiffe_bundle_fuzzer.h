// The spiffe_bundle fuzzer's harness, shared with its seed test: what the
// fuzzer does with one input (a SPIFFE bundle document, as a bundle endpoint
// of another organisation might send it), returning the parser's verdict so a
// test can check that valid documents are accepted.
#ifndef PALISADE_TESTS_FUZZ_SPIFFE_BUNDLE_FUZZER_H_
#define PALISADE_TESTS_FUZZ_SPIFFE_BUNDLE_FUZZER_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace palisade::fuzz {

struct SpiffeBundleVerdict {
  absl::Status status;  // ParseSpiffeBundle for example.org
  size_t authorities = 0;
};

// Parses `json`, after checking the invariants (abort on a violation): an
// accepted bundle serializes to a document that parses back to the same
// authorities, sequence and hint, and serializes to the same bytes again.
SpiffeBundleVerdict FuzzSpiffeBundle(absl::string_view json);

}  // namespace palisade::fuzz

#endif  // PALISADE_TESTS_FUZZ_SPIFFE_BUNDLE_FUZZER_H_
