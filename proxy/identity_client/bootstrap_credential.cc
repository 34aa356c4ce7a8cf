#include "proxy/identity_client/bootstrap_credential.h"

#include <nlohmann/json.hpp>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "runtime/files/files.h"
#include "runtime/status/status_macros.h"

namespace palisade::identity_client {
namespace {

using Config = config::v1::ControlPlaneIdentitySource;

absl::StatusOr<std::string> ReadToken(const std::string& path, absl::string_view what) {
  ASSIGN_OR_RETURN(std::string contents, files::ReadSmallFile(path, what));
  std::string token(absl::StripAsciiWhitespace(contents));
  if (token.empty()) return absl::InvalidArgumentError(absl::StrCat(what, " ", path, " is empty"));
  return token;
}

}  // namespace

absl::StatusOr<identity::TrustBundleSet> LoadBootstrapBundle(const Config& config) {
  absl::StatusOr<identity::SpiffeId> server_id =
      identity::SpiffeId::Parse(config.server_spiffe_id());
  if (!server_id.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("server_spiffe_id: ", server_id.status().message()));
  }
  const std::string& path = config.bootstrap_bundle_file();
  ASSIGN_OR_RETURN(std::string pem, files::ReadSmallFile(path, "bootstrap_bundle_file"));
  identity::TrustBundleSet::Builder builder;
  if (absl::Status s = builder.AddPem(server_id->trust_domain(), pem); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bootstrap_bundle_file ", path, ": ", s.message()));
  }
  return builder.Build();
}

absl::Status AddBootstrapCredential(const Config& config, control::v1::Hello* hello) {
  switch (config.bootstrap_case()) {
    case Config::kJoinTokenFile: {
      ASSIGN_OR_RETURN(std::string token, ReadToken(config.join_token_file(), "join_token_file"));
      hello->set_join_token(std::move(token));
      return absl::OkStatus();
    }
    case Config::kServiceAccountTokenFile: {
      ASSIGN_OR_RETURN(std::string token, ReadToken(config.service_account_token_file(),
                                                    "service_account_token_file"));
      hello->set_service_account_token(std::move(token));
      return absl::OkStatus();
    }
    case Config::BOOTSTRAP_NOT_SET:
      break;
  }
  return absl::FailedPreconditionError(
      "no bootstrap credential configured (join_token_file or service_account_token_file)");
}

absl::StatusOr<identity::SpiffeId> SpiffeIdFromServiceAccountToken(absl::string_view token,
                                                                   absl::string_view trust_domain) {
  const std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  std::string payload;
  if (parts.size() != 3 || !absl::WebSafeBase64Unescape(parts[1], &payload)) {
    return absl::InvalidArgumentError("the service-account token is not a JWT");
  }
  const nlohmann::json claims = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (!claims.is_object() || !claims.contains("sub") || !claims["sub"].is_string()) {
    return absl::InvalidArgumentError("the service-account token has no sub claim");
  }
  return identity::SpiffeIdForServiceAccount(trust_domain, claims["sub"].get<std::string>());
}

absl::StatusOr<identity::SpiffeId> ResolveWorkloadId(absl::string_view configured,
                                                     const Config& config) {
  if (!configured.empty()) return identity::SpiffeId::Parse(configured);
  if (config.bootstrap_case() == Config::kServiceAccountTokenFile) {
    ASSIGN_OR_RETURN(identity::SpiffeId server,
                     identity::SpiffeId::Parse(config.server_spiffe_id()));
    control::v1::Hello hello;
    RETURN_IF_ERROR(AddBootstrapCredential(config, &hello));
    return SpiffeIdFromServiceAccountToken(hello.service_account_token(), server.trust_domain());
  }
  return absl::InvalidArgumentError(
      "identity.spiffe_id is required with a join token: the CSR must name the identity the "
      "token was created for");
}

}  // namespace palisade::identity_client
