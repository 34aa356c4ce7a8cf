#include "proxy/identity_client/reattestation_token_file.h"

#include <openssl/sha.h>

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "proxy/config/config_defaults.h"
#include "proxy/identity_client/bootstrap_credential.h"
#include "runtime/files/files.h"
#include "runtime/log/logging.h"

namespace palisade::identity_client {
namespace {

constexpr char kWhat[] = "reattestation_token_file";

// The refused token is remembered by hash: no second copy of a secret.
std::string Sha256Hex(absl::string_view data) {
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const uint8_t*>(data.data()), data.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

}  // namespace

std::string ReattestationTokenFile::PathFor(const config::v1::ControlPlaneIdentitySource& config) {
  if (!config.reattestation_token_file().empty()) return config.reattestation_token_file();
  if (config.has_join_token_file() && !config.join_token_file().empty()) {
    return config.join_token_file() + config::kReattestationTokenSuffix;
  }
  return "";
}

absl::StatusOr<std::optional<std::string>> ReattestationTokenFile::Load() const {
  if (path_.empty()) return std::nullopt;
  absl::StatusOr<std::string> contents = files::ReadSmallFile(path_, kWhat);
  if (absl::IsNotFound(contents.status())) return std::nullopt;
  if (!contents.ok()) return contents.status();
  std::string token(absl::StripAsciiWhitespace(*contents));
  if (token.empty()) return std::nullopt;
  if (!refused_sha256_.empty() && Sha256Hex(token) == refused_sha256_) return std::nullopt;
  return token;
}

absl::Status ReattestationTokenFile::Save(absl::string_view token) {
  if (path_.empty()) {
    return absl::FailedPreconditionError(
        "no reattestation_token_file is configured to keep the re-attestation token in");
  }
  return files::WriteFileAtomically(path_, absl::StrCat(token, "\n"), 0600, kWhat);
}

void ReattestationTokenFile::MarkRefused(absl::string_view token) {
  refused_sha256_ = Sha256Hex(token);
}

absl::Status ReattestationTokenFile::AddCredential(
    const config::v1::ControlPlaneIdentitySource& config, control::v1::Hello* hello) const {
  absl::StatusOr<std::optional<std::string>> token = Load();
  if (!token.ok()) {
    log::LogEvent(log::Level::kWarn, "control",
                  "cannot read the re-attestation token; using the bootstrap credential",
                  {{"error", std::string(token.status().message())}});
  } else if (token->has_value()) {
    hello->set_reattestation_token(**token);
    return absl::OkStatus();
  }
  return AddBootstrapCredential(config, hello);
}

}  // namespace palisade::identity_client
