// The spiffe_id fuzzer's harness, shared with its seed test: what the fuzzer
// does with one input, returning the parser's verdict so a test can check
// that valid IDs are accepted (a parser that refused everything would
// otherwise fuzz clean).
#ifndef PALISADE_TESTS_FUZZ_SPIFFE_ID_FUZZER_H_
#define PALISADE_TESTS_FUZZ_SPIFFE_ID_FUZZER_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "identity/spiffe_id.h"

namespace palisade::fuzz {

// SpiffeId::Parse of `input`, after checking its invariants (abort on a
// violation): an accepted ID prints back to exactly `input` and re-parses to
// an equal value; an authorization policy made of `input` allows it.
absl::StatusOr<identity::SpiffeId> FuzzSpiffeId(absl::string_view input);

}  // namespace palisade::fuzz

#endif  // PALISADE_TESTS_FUZZ_SPIFFE_ID_FUZZER_H_
