#include "identity/spiffe_id.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "runtime/status/status_macros.h"

namespace palisade {
namespace identity {
namespace {

constexpr absl::string_view kScheme = "spiffe://";
// Inputs are echoed in error messages; a hostile multi-kilobyte input should not
// become a multi-kilobyte log line.
constexpr size_t kMaxEcho = 96;

std::string Quote(absl::string_view s) {
  if (s.size() <= kMaxEcho) return absl::StrCat("\"", absl::CHexEscape(s), "\"");
  return absl::StrCat("\"", absl::CHexEscape(s.substr(0, kMaxEcho)), "\"... (", s.size(),
                      " bytes)");
}

std::string DescribeChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u > 0x20 && u < 0x7f) return absl::StrFormat("'%c'", c);
  return absl::StrFormat("byte 0x%02x", u);
}

bool IsTrustDomainChar(char c) {
  return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '.' || c == '-' || c == '_';
}

bool IsPathChar(char c) { return absl::ascii_isalnum(c) || c == '.' || c == '-' || c == '_'; }

// URI parts that a SPIFFE ID never has and that the character rules below would
// otherwise report less helpfully: the first one present in `s`, or nullptr.
const char* UriSyntaxRule(absl::string_view s) {
  const size_t at = s.find_first_of("?#%");
  if (at == absl::string_view::npos) return nullptr;
  switch (s[at]) {
    case '?':
      return "query is not allowed";
    case '#':
      return "fragment is not allowed";
    default:
      return "percent-encoding is not allowed";
  }
}

// The rule a trust domain breaks, or "" when it is valid.
std::string TrustDomainRule(absl::string_view td) {
  if (td.empty()) return "trust domain is missing";
  if (td.size() > kMaxTrustDomainLength) {
    return absl::StrCat("trust domain is longer than ", kMaxTrustDomainLength, " bytes (",
                        td.size(), ")");
  }
  if (td.find('@') != absl::string_view::npos) return "userinfo is not allowed";
  if (td.find(':') != absl::string_view::npos) return "port is not allowed";
  for (char c : td) {
    if (IsTrustDomainChar(c)) continue;
    if (absl::ascii_isupper(c)) return "trust domain must be lowercase";
    return absl::StrCat("trust domain contains ", DescribeChar(c),
                        "; only lowercase letters, digits, '.', '-' and '_' are allowed");
  }
  return "";
}

// The rule a path breaks, or "" when it is valid. `path` is "" or starts with '/'.
std::string PathRule(absl::string_view path) {
  if (path.empty()) return "";
  if (path.front() != '/') return "path must be empty or start with '/'";
  absl::string_view rest = path.substr(1);
  while (true) {
    const size_t slash = rest.find('/');
    const absl::string_view segment = rest.substr(0, slash);
    if (segment.empty()) {
      return slash == absl::string_view::npos ? "path has a trailing slash"
                                              : "path contains an empty segment";
    }
    if (segment == "." || segment == "..") return "path contains a '.' or '..' segment";
    for (char c : segment) {
      if (!IsPathChar(c)) {
        return absl::StrCat("path segment contains ", DescribeChar(c),
                            "; only letters, digits, '.', '-' and '_' are allowed");
      }
    }
    if (slash == absl::string_view::npos) return "";
    rest = rest.substr(slash + 1);
  }
}

absl::Status InvalidId(absl::string_view uri, absl::string_view rule) {
  return absl::InvalidArgumentError(absl::StrCat("invalid SPIFFE ID ", Quote(uri), ": ", rule));
}

}  // namespace

absl::StatusOr<SpiffeId> SpiffeId::Parse(absl::string_view uri) {
  if (uri.empty()) return InvalidId(uri, "is empty");
  if (uri.size() > kMaxSpiffeIdLength) {
    return InvalidId(uri, absl::StrCat("is longer than ", kMaxSpiffeIdLength, " bytes"));
  }
  if (!absl::StartsWith(uri, kScheme)) {
    if (absl::StartsWithIgnoreCase(uri, kScheme)) {
      return InvalidId(uri, "scheme must be lowercase \"spiffe\"");
    }
    return InvalidId(uri, "scheme must be \"spiffe://\"");
  }
  const absl::string_view rest = uri.substr(kScheme.size());
  if (const char* rule = UriSyntaxRule(rest); rule != nullptr) return InvalidId(uri, rule);
  const size_t slash = rest.find('/');
  const absl::string_view td = rest.substr(0, slash);
  const absl::string_view path =
      slash == absl::string_view::npos ? absl::string_view() : rest.substr(slash);
  if (std::string rule = TrustDomainRule(td); !rule.empty()) return InvalidId(uri, rule);
  if (std::string rule = PathRule(path); !rule.empty()) return InvalidId(uri, rule);
  return SpiffeId(std::string(td), std::string(path));
}

absl::StatusOr<SpiffeId> SpiffeId::FromParts(absl::string_view trust_domain,
                                             absl::string_view path) {
  RETURN_IF_ERROR(ValidateTrustDomain(trust_domain));
  RETURN_IF_ERROR(ValidateSpiffePath(path));
  if (kScheme.size() + trust_domain.size() + path.size() > kMaxSpiffeIdLength) {
    return InvalidId(absl::StrCat(kScheme, trust_domain, path),
                     absl::StrCat("is longer than ", kMaxSpiffeIdLength, " bytes"));
  }
  return SpiffeId(std::string(trust_domain), std::string(path));
}

std::string SpiffeId::ToString() const { return absl::StrCat(kScheme, trust_domain_, path_); }

absl::Status ValidateTrustDomain(absl::string_view trust_domain) {
  if (absl::StartsWithIgnoreCase(trust_domain, kScheme)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid trust domain ", Quote(trust_domain),
                                                   ": give the bare name, without \"spiffe://\""));
  }
  if (std::string rule = TrustDomainRule(trust_domain); !rule.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid trust domain ", Quote(trust_domain), ": ", rule));
  }
  return absl::OkStatus();
}

absl::Status ValidateSpiffePath(absl::string_view path) {
  std::string rule;
  if (const char* syntax_rule = UriSyntaxRule(path); syntax_rule != nullptr) {
    rule = syntax_rule;
  } else {
    rule = PathRule(path);
  }
  if (!rule.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid SPIFFE ID path ", Quote(path), ": ", rule));
  }
  return absl::OkStatus();
}

absl::Status ValidateWorkloadId(const SpiffeId& id) {
  if (!id.path().empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("SPIFFE ID ", id.ToString(),
                   " has no path (X509-SVID section 3: a trust domain's own ID names no "
                   "workload, so no SVID carries it)"));
}

absl::StatusOr<SpiffeId> SpiffeIdForServiceAccount(absl::string_view trust_domain,
                                                   absl::string_view subject) {
  const std::vector<absl::string_view> fields = absl::StrSplit(subject, ':');
  // Each name must stay one path segment: "a/b" must not become two.
  if (fields.size() != 4 || fields[0] != "system" || fields[1] != "serviceaccount" ||
      fields[2].empty() || fields[3].empty() || absl::StrContains(fields[2], '/') ||
      absl::StrContains(fields[3], '/')) {
    return absl::InvalidArgumentError(absl::StrCat(
        "service-account subject \"", subject, "\" is not system:serviceaccount:NAMESPACE:NAME"));
  }
  return SpiffeId::FromParts(trust_domain, absl::StrCat("/ns/", fields[2], "/sa/", fields[3]));
}

}  // namespace identity
}  // namespace palisade
