// Fuzzes SpiffeId::Parse and the authorization policy's entry parsing. Beyond "no
// crash", it checks the parser's round-trip invariants: an accepted ID prints back
// to exactly its input and re-parses (also via FromParts) to an equal value.
#include "tests/fuzz/spiffe_id_fuzzer.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "identity/authz_policy.h"

namespace palisade::fuzz {
namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

absl::StatusOr<identity::SpiffeId> FuzzSpiffeId(absl::string_view data) {
  using palisade::identity::AuthorizationPolicy;
  using palisade::identity::SpiffeId;
  const std::string input(data);

  absl::StatusOr<SpiffeId> id = SpiffeId::Parse(input);
  if (id.ok()) {
    Check(id->ToString() == input);
    Check(input.size() <= palisade::identity::kMaxSpiffeIdLength);
    Check(palisade::identity::ValidateTrustDomain(id->trust_domain()).ok());
    Check(palisade::identity::ValidateSpiffePath(id->path()).ok());
    absl::StatusOr<SpiffeId> again = SpiffeId::Parse(id->ToString());
    Check(again.ok() && *again == *id);
    absl::StatusOr<SpiffeId> parts = SpiffeId::FromParts(id->trust_domain(), id->path());
    Check(parts.ok() && *parts == *id);
  } else {
    Check(!id.status().message().empty());
    Check(id.status().message().size() < 512);  // inputs are echoed, but truncated
  }

  absl::StatusOr<AuthorizationPolicy> policy =
      AuthorizationPolicy::Create({input}, {input}, {input});
  if (policy.ok() && id.ok()) Check(policy->Allows(*id));
  return id;
}

}  // namespace palisade::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  palisade::fuzz::FuzzSpiffeId(absl::string_view(reinterpret_cast<const char*>(data), size))
      .IgnoreError();
  return 0;
}
