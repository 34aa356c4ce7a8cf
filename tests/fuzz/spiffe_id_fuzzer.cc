// Fuzzes SpiffeId::Parse and the authorization policy's entry parsing. Beyond "no
// crash", it checks the parser's round-trip invariants: an accepted ID prints back
// to exactly its input and re-parses (also via FromParts) to an equal value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "identity/authz_policy.h"
#include "identity/spiffe_id.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using palisade::identity::AuthorizationPolicy;
  using palisade::identity::SpiffeId;
  const std::string input(reinterpret_cast<const char*>(data), size);

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
  return 0;
}
