#include "proxy/config/gateway_check.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "identity/gateway_policy.h"
#include "identity/gateway_trust.h"
#include "proxy/config/file_check.h"
#include "runtime/files/files.h"

namespace palisade::config {
namespace {

std::string At(const std::string& path, absl::string_view field, int i) {
  return absl::StrCat(path, ".", field, "[", i, "]");
}

void CheckCrlFile(const std::string& path, const std::string& file, ConfigErrors* errors) {
  if (file.empty()) return errors->Add(path, "is required: a file name");
  absl::StatusOr<std::string> pem = files::ReadSmallFile(file, "CRL file");
  if (!pem.ok()) return errors->Add(path, pem.status().message());
  if (auto crls = identity::ParsePemCrls(*pem); !crls.ok()) {
    errors->Add(path, absl::StrCat("CRL file \"", file, "\": ", crls.status().message()));
  }
}

}  // namespace

void CheckGatewayListener(const std::string& path, const v1::InboundListener& in,
                          ConfigErrors* errors) {
  const std::string& version = in.min_tls_version();
  if (!version.empty() && version != "1.2" && version != "1.3") {
    errors->Add(
        absl::StrCat(path, ".min_tls_version"),
        absl::StrCat("\"", absl::CHexEscape(version),
                     "\" is not allowed: TLS 1.2 is the minimum; write \"1.2\" or \"1.3\""));
  }
  if (!in.has_gateway()) return;
  const std::string gw = absl::StrCat(path, ".gateway");
  const v1::GatewayClients& g = in.gateway();
  if (in.has_authorization()) {
    errors->Add(absl::StrCat(path, ".authorization"),
                "does not apply to a gateway listener (it names SPIFFE peers); list who may "
                "connect in gateway.allow");
  }
  if (g.trust_store_files_size() == 0) {
    errors->Add(absl::StrCat(gw, ".trust_store_files"),
                "is required: at least one PEM file of the CA certificates client chains lead to");
  }
  for (int i = 0; i < g.trust_store_files_size(); ++i) {
    const std::string field = At(gw, "trust_store_files", i);
    if (g.trust_store_files(i).empty()) {
      errors->Add(field, "is required: a file name");
    } else if (absl::Status s = CheckConfigFile(g.trust_store_files(i), FileKind::kCertificates);
               !s.ok()) {
      errors->Add(field, s.message());
    }
  }
  for (int i = 0; i < g.crl_files_size(); ++i) {
    CheckCrlFile(At(gw, "crl_files", i), g.crl_files(i), errors);
  }
  absl::StatusOr<identity::IdentityFrom> from = identity::ParseIdentityFrom(g.identity_from());
  if (!from.ok()) errors->Add(absl::StrCat(gw, ".identity_from"), from.status().message());
  const std::string allow = absl::StrCat(gw, ".allow");
  const v1::GatewayAllow& a = g.allow();
  for (int i = 0; i < a.identities_size(); ++i) {
    if (a.identities(i).empty()) errors->Add(At(allow, "identities", i), "is empty");
  }
  for (int i = 0; i < a.dns_wildcards_size(); ++i) {
    if (absl::Status s = identity::ValidateDnsWildcard(a.dns_wildcards(i)); !s.ok()) {
      errors->Add(At(allow, "dns_wildcards", i),
                  absl::StrCat("\"", absl::CHexEscape(a.dns_wildcards(i)), "\" ", s.message()));
    }
  }
  for (int i = 0; i < a.subjects_size(); ++i) {
    if (absl::Status s = identity::ValidateSubjectPattern(a.subjects(i)); !s.ok()) {
      errors->Add(At(allow, "subjects", i),
                  absl::StrCat("\"", absl::CHexEscape(a.subjects(i)), "\" ", s.message()));
    }
  }
}

}  // namespace palisade::config
