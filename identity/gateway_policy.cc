#include "identity/gateway_policy.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace palisade {
namespace identity {
namespace {

absl::Status Bad(absl::string_view list, size_t i, absl::string_view entry,
                 absl::string_view rule) {
  return absl::InvalidArgumentError(
      absl::StrCat(list, "[", i, "] \"", absl::CHexEscape(entry), "\": ", rule));
}

bool IsLdhLabel(absl::string_view label) {
  if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
    return false;
  }
  for (char c : label) {
    if (!absl::ascii_isalnum(c) && c != '-') return false;
  }
  return true;
}

// True when the ',' at `comma` separates RDNs (it is not escaped by an odd
// run of backslashes before it).
bool IsRdnBoundary(absl::string_view subject, size_t comma) {
  size_t backslashes = 0;
  while (comma > backslashes && subject[comma - 1 - backslashes] == '\\') ++backslashes;
  return backslashes % 2 == 0;
}

}  // namespace

absl::Status ValidateDnsWildcard(absl::string_view w) {
  if (!absl::StartsWith(w, "*.")) {
    return absl::InvalidArgumentError("must start with \"*.\" (e.g. \"*.devices.example.com\")");
  }
  const std::vector<absl::string_view> labels = absl::StrSplit(w.substr(2), '.');
  if (labels.size() < 2) {
    return absl::InvalidArgumentError("a wildcard needs at least two labels after \"*.\"");
  }
  for (absl::string_view label : labels) {
    if (!IsLdhLabel(label)) {
      return absl::InvalidArgumentError(
          absl::StrCat("label \"", absl::CHexEscape(label),
                       "\" is not 1-63 letters, digits or '-' (one '*', leftmost only)"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateSubjectPattern(absl::string_view s) {
  const absl::string_view rdns = absl::StartsWith(s, "*,") ? s.substr(2) : s;
  if (rdns.empty() || rdns.find('=') == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "must be an RFC 4514 subject (\"CN=a,O=b\") or \"*,\" and its last RDNs (\"*,O=b\")");
  }
  return absl::OkStatus();
}

absl::StatusOr<GatewayPolicy> GatewayPolicy::Create(IdentityFrom from,
                                                    std::vector<std::string> identities,
                                                    std::vector<std::string> dns_wildcards,
                                                    std::vector<std::string> subjects) {
  GatewayPolicy policy;
  policy.dns_ = from == IdentityFrom::kDnsSan;
  for (size_t i = 0; i < identities.size(); ++i) {
    std::string& id = identities[i];
    if (id.empty()) return Bad("identities", i, id, "is empty");
    if (policy.dns_) absl::AsciiStrToLower(&id);
    policy.identities_.insert(id);
  }
  for (size_t i = 0; i < dns_wildcards.size(); ++i) {
    const std::string& w = dns_wildcards[i];
    if (absl::Status s = ValidateDnsWildcard(w); !s.ok()) {
      return Bad("dns_wildcards", i, w, s.message());
    }
    policy.wildcards_.push_back(absl::AsciiStrToLower(w.substr(1)));
  }
  for (size_t i = 0; i < subjects.size(); ++i) {
    if (absl::Status s = ValidateSubjectPattern(subjects[i]); !s.ok()) {
      return Bad("subjects", i, subjects[i], s.message());
    }
    policy.subjects_.push_back(subjects[i]);
  }
  return policy;
}

bool GatewayPolicy::Allows(const VerifiedClient& client) const {
  if (identities_.contains(client.identity)) return true;
  const std::string lower = absl::AsciiStrToLower(client.identity);
  for (const std::string& suffix : wildcards_) {
    // One label, not empty and without a dot, before the suffix.
    if (lower.size() > suffix.size() && absl::EndsWith(lower, suffix) &&
        lower.find('.') == lower.size() - suffix.size()) {
      return true;
    }
  }
  for (const std::string& pattern : subjects_) {
    if (!absl::StartsWith(pattern, "*,")) {
      if (client.subject == pattern) return true;
      continue;
    }
    const absl::string_view tail = absl::string_view(pattern).substr(1);  // ",O=b"
    const absl::string_view subject = client.subject;
    if (subject.size() > tail.size() && absl::EndsWith(subject, tail) &&
        IsRdnBoundary(subject, subject.size() - tail.size())) {
      return true;
    }
  }
  return false;
}

std::string GatewayPolicy::Describe() const {
  std::vector<std::string> parts(identities_.begin(), identities_.end());
  std::sort(parts.begin(), parts.end());
  for (const std::string& w : wildcards_) parts.push_back(absl::StrCat("*", w));
  for (const std::string& s : subjects_) parts.push_back(absl::StrCat("subject ", s));
  return parts.empty() ? "nobody (no allow rule)" : absl::StrJoin(parts, ", ");
}

}  // namespace identity
}  // namespace palisade
