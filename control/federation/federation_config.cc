#include "control/federation/federation_config.h"

#include <yaml-cpp/yaml.h>

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "identity/certificate.h"
#include "identity/spiffe_id.h"
#include "runtime/files/files.h"
#include "runtime/http/https_url.h"
#include "runtime/status/status_macros.h"
#include "runtime/verify/server_name_verifier.h"

namespace palisade::control::federation {
namespace {

constexpr const char* kFields[] = {"trust_domain",       "bundle_endpoint_url", "profile",
                                   "endpoint_spiffe_id", "initial_bundle_file", "ca_file"};

absl::Status Bad(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

// The string at `node[key]`; "" when absent. A non-scalar is an error.
absl::StatusOr<std::string> Scalar(const YAML::Node& node, const char* key,
                                   const std::string& path) {
  const YAML::Node value = node[key];
  if (!value) return std::string();
  if (!value.IsScalar()) return Bad(absl::StrCat(path, ".", key), "must be a string");
  return value.as<std::string>();
}

absl::StatusOr<FederatedDomain> ParseDomain(const YAML::Node& node, const std::string& path,
                                            absl::string_view own_trust_domain) {
  if (!node.IsMap()) return Bad(path, "must be a map");
  for (const auto& entry : node) {
    const std::string key = entry.first.as<std::string>();
    if (std::find(std::begin(kFields), std::end(kFields), key) == std::end(kFields)) {
      return Bad(absl::StrCat(path, ".", key), "unknown field");
    }
  }
  FederatedDomain d;
  ASSIGN_OR_RETURN(d.trust_domain, Scalar(node, "trust_domain", path));
  ASSIGN_OR_RETURN(d.bundle_endpoint_url, Scalar(node, "bundle_endpoint_url", path));
  ASSIGN_OR_RETURN(std::string profile, Scalar(node, "profile", path));
  ASSIGN_OR_RETURN(d.endpoint_spiffe_id, Scalar(node, "endpoint_spiffe_id", path));
  ASSIGN_OR_RETURN(d.initial_bundle_file, Scalar(node, "initial_bundle_file", path));
  ASSIGN_OR_RETURN(d.ca_file, Scalar(node, "ca_file", path));

  const std::string td_field = path + ".trust_domain";
  if (d.trust_domain.empty()) return Bad(td_field, "is required");
  if (absl::Status s = identity::ValidateTrustDomain(d.trust_domain); !s.ok()) {
    return Bad(td_field, s.message());
  }
  if (d.trust_domain == own_trust_domain) {
    return Bad(td_field, absl::StrCat("\"", d.trust_domain,
                                      "\" is this control plane's own trust domain "
                                      "(--trust_domain); list only foreign ones"));
  }
  const std::string url_field = path + ".bundle_endpoint_url";
  if (d.bundle_endpoint_url.empty()) return Bad(url_field, "is required");
  if (absl::StatusOr<http::HttpsUrl> url = http::ParseHttpsUrl(d.bundle_endpoint_url); !url.ok()) {
    return Bad(url_field, url.status().message());
  }
  const std::string profile_field = path + ".profile";
  if (profile == "https_spiffe") {
    d.profile = EndpointProfile::kHttpsSpiffe;
  } else if (profile == "https_web") {
    d.profile = EndpointProfile::kHttpsWeb;
  } else {
    return Bad(profile_field, absl::StrCat(profile.empty() ? "is required" : "\"" + profile + "\"",
                                           profile.empty() ? "" : " is not a profile",
                                           " (https_spiffe or https_web)"));
  }
  const std::string id_field = path + ".endpoint_spiffe_id";
  const std::string initial_field = path + ".initial_bundle_file";
  const std::string ca_field = path + ".ca_file";
  if (d.profile == EndpointProfile::kHttpsSpiffe) {
    if (d.endpoint_spiffe_id.empty()) return Bad(id_field, "is required for https_spiffe");
    absl::StatusOr<identity::SpiffeId> id = identity::SpiffeId::Parse(d.endpoint_spiffe_id);
    if (!id.ok()) return Bad(id_field, id.status().message());
    if (id->trust_domain() != d.trust_domain) {
      return Bad(id_field, absl::StrCat("\"", d.endpoint_spiffe_id, "\" is not in trust domain \"",
                                        d.trust_domain, "\""));
    }
    if (d.initial_bundle_file.empty()) return Bad(initial_field, "is required for https_spiffe");
    if (!d.ca_file.empty()) return Bad(ca_field, "is for https_web only");
  } else {
    // No system roots: which public CAs may vouch for a partner is the
    // operator's choice, written down.
    if (d.ca_file.empty()) return Bad(ca_field, "is required for https_web");
    if (!d.endpoint_spiffe_id.empty()) return Bad(id_field, "is for https_spiffe only");
    if (!d.initial_bundle_file.empty()) return Bad(initial_field, "is for https_spiffe only");
  }
  return d;
}

}  // namespace

const char* ProfileName(EndpointProfile profile) {
  return profile == EndpointProfile::kHttpsSpiffe ? "https_spiffe" : "https_web";
}

absl::StatusOr<std::vector<FederatedDomain>> ParseFederationConfig(
    absl::string_view yaml, absl::string_view own_trust_domain) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("not YAML: ", e.what()));
  }
  if (!root.IsMap()) return absl::InvalidArgumentError("must be a map with a \"federation\" list");
  for (const auto& entry : root) {
    const std::string key = entry.first.as<std::string>();
    if (key != "federation") return Bad(key, "unknown field (the file holds \"federation\")");
  }
  const YAML::Node list = root["federation"];
  if (!list || !list.IsSequence()) return Bad("federation", "must be a list");
  std::vector<FederatedDomain> domains;
  std::set<std::string> seen;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string path = absl::StrCat("federation[", i, "]");
    ASSIGN_OR_RETURN(FederatedDomain d, ParseDomain(list[i], path, own_trust_domain));
    if (!seen.insert(d.trust_domain).second) {
      return Bad(path + ".trust_domain",
                 absl::StrCat("\"", d.trust_domain, "\" is listed more than once"));
    }
    domains.push_back(std::move(d));
  }
  return domains;
}

absl::StatusOr<identity::SpiffeBundle> LoadInitialBundle(const FederatedDomain& domain,
                                                         size_t index) {
  const std::string field = absl::StrCat("federation[", index, "].initial_bundle_file");
  absl::StatusOr<std::string> text =
      files::ReadSmallFile(domain.initial_bundle_file, field, identity::kMaxSpiffeBundleSize);
  if (!text.ok()) return absl::InvalidArgumentError(text.status().message());
  if (absl::StartsWith(absl::StripLeadingAsciiWhitespace(*text), "{")) {
    absl::StatusOr<identity::SpiffeBundle> bundle =
        identity::ParseSpiffeBundle(*text, domain.trust_domain);
    if (!bundle.ok()) {
      return Bad(field,
                 absl::StrCat("\"", domain.initial_bundle_file, "\": ", bundle.status().message()));
    }
    return bundle;
  }
  absl::StatusOr<std::vector<bssl::UniquePtr<X509>>> roots = identity::ParsePemCertificates(*text);
  if (!roots.ok() || roots->empty()) {
    return Bad(field,
               absl::StrCat("\"", domain.initial_bundle_file,
                            "\": neither SPIFFE bundle JSON nor PEM certificates",
                            roots.ok() ? "" : absl::StrCat(" (", roots.status().message(), ")")));
  }
  identity::SpiffeBundle bundle;
  bundle.trust_domain = domain.trust_domain;
  bundle.x509_authorities = *std::move(roots);
  return bundle;
}

absl::StatusOr<std::vector<FederatedDomain>> LoadFederationFile(
    const std::string& path, absl::string_view own_trust_domain) {
  auto fail = [&](absl::string_view message) {
    return absl::InvalidArgumentError(absl::StrCat("--federation_file ", path, ": ", message));
  };
  absl::StatusOr<std::string> text = files::ReadSmallFile(path, "--federation_file");
  if (!text.ok()) return absl::InvalidArgumentError(text.status().message());
  absl::StatusOr<std::vector<FederatedDomain>> domains =
      ParseFederationConfig(*text, own_trust_domain);
  if (!domains.ok()) return fail(domains.status().message());
  for (size_t i = 0; i < domains->size(); ++i) {
    const FederatedDomain& d = (*domains)[i];
    if (d.profile == EndpointProfile::kHttpsSpiffe) {
      if (absl::StatusOr<identity::SpiffeBundle> b = LoadInitialBundle(d, i); !b.ok()) {
        return fail(b.status().message());
      }
    } else {
      const std::string field = absl::StrCat("federation[", i, "].ca_file");
      absl::StatusOr<std::string> pem = files::ReadSmallFile(d.ca_file, field);
      if (!pem.ok()) return fail(pem.status().message());
      if (absl::StatusOr<verify::ServerRoots> roots = verify::ServerRoots::FromPem(*pem);
          !roots.ok()) {
        return fail(absl::StrCat(field, ": \"", d.ca_file, "\": ", roots.status().message()));
      }
    }
  }
  return domains;
}

}  // namespace palisade::control::federation
