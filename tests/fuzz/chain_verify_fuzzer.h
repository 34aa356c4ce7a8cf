// The chain_verify fuzzer's harness, shared with its seed test: what the
// fuzzer does with one input (see chain_input.h), returning the verdict so a
// test can check that valid chains are accepted (a verifier that refused
// everything would otherwise fuzz clean).
#ifndef PALISADE_TESTS_FUZZ_CHAIN_VERIFY_FUZZER_H_
#define PALISADE_TESTS_FUZZ_CHAIN_VERIFY_FUZZER_H_

#include <optional>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "identity/svid_verifier.h"

namespace palisade::fuzz {

// The instant the seed corpus was issued around (see make_seed_corpus.cc).
inline const absl::Time kChainFuzzNow = absl::FromUnixSeconds(1700000000);

// Verifies the chain `data` encodes against its anchor at kChainFuzzNow, after
// checking the verdict's invariants (abort on a violation): ok exactly when it
// carries an SVID, which names the leaf's SPIFFE ID; failures say why.
// nullopt when `data` holds no certificate at all.
std::optional<identity::SvidVerification> FuzzChainVerify(absl::string_view data);

}  // namespace palisade::fuzz

#endif  // PALISADE_TESTS_FUZZ_CHAIN_VERIFY_FUZZER_H_
