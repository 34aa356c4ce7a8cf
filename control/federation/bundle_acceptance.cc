#include "control/federation/bundle_acceptance.h"

#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "control/auth/refusal.h"
#include "identity/certificate.h"
#include "identity/spiffe_id.h"

namespace palisade::control::federation {
namespace {

absl::Status Refuse(absl::string_view result, absl::string_view detail) {
  return auth::Refusal(absl::StatusCode::kFailedPrecondition, result, detail);
}

std::set<std::string> DerSet(const identity::SpiffeBundle& bundle) {
  std::set<std::string> out;
  for (const auto& root : bundle.x509_authorities) {
    out.insert(identity::CertificateToDer(root.get()));
  }
  return out;
}

}  // namespace

bool RootsDiffer(const identity::SpiffeBundle& current, const identity::SpiffeBundle& next) {
  return DerSet(current) != DerSet(next);
}

absl::StatusOr<bool> CheckSuccessor(const identity::SpiffeBundle& current,
                                    const identity::SpiffeBundle& next) {
  for (size_t i = 0; i < next.x509_authorities.size(); ++i) {
    absl::StatusOr<std::vector<std::string>> sans =
        identity::UriSansOf(next.x509_authorities[i].get());
    if (!sans.ok()) continue;  // the parser already judged the certificate
    for (const std::string& san : *sans) {
      if (!absl::StartsWithIgnoreCase(san, "spiffe://")) continue;
      absl::StatusOr<identity::SpiffeId> id = identity::SpiffeId::Parse(san);
      const std::string named = id.ok() ? id->trust_domain() : san;
      if (named != next.trust_domain) {
        return Refuse("wrong_trust_domain",
                      absl::StrCat("authority ", i, " is for ", san, ", not trust domain \"",
                                   next.trust_domain, "\""));
      }
    }
  }
  const bool changed = RootsDiffer(current, next);
  if (current.sequence.has_value()) {
    if (!next.sequence.has_value()) {
      return Refuse("lower_sequence",
                    absl::StrCat("no spiffe_sequence after sequence ", *current.sequence));
    }
    if (*next.sequence < *current.sequence) {
      return Refuse("lower_sequence", absl::StrCat("spiffe_sequence ", *next.sequence,
                                                   " is below the last good ", *current.sequence));
    }
    if (*next.sequence == *current.sequence && changed) {
      return Refuse("sequence_reused", absl::StrCat("spiffe_sequence ", *next.sequence,
                                                    " is the last good one's, with other roots"));
    }
  }
  return changed;
}

}  // namespace palisade::control::federation
