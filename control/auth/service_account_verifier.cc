#include "control/auth/service_account_verifier.h"

#include <openssl/bn.h>
#include <openssl/digest.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/mem.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "control/auth/base64url.h"
#include "control/auth/refusal.h"
#include "runtime/status/status_macros.h"

namespace palisade::control::auth {
namespace {

absl::Status Refuse(absl::string_view reason, absl::string_view detail) {
  return Refusal(absl::StatusCode::kUnauthenticated, reason,
                 absl::StrCat("service account token: ", detail));
}

absl::StatusOr<nlohmann::json> DecodeObject(absl::string_view part, absl::string_view what) {
  absl::StatusOr<std::string> bytes = Base64UrlDecode(part);
  if (!bytes.ok())
    return Refuse("token_malformed", absl::StrCat(what, ": ", bytes.status().message()));
  nlohmann::json doc = nlohmann::json::parse(*bytes, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Refuse("token_malformed", absl::StrCat(what, " is not a JSON object"));
  }
  return doc;
}

// JWS ES256 signatures are r || s (32 bytes each); BoringSSL wants DER.
absl::StatusOr<std::string> EcdsaRawToDer(absl::string_view raw) {
  if (raw.size() != 64) {
    return Refuse("token_bad_signature", "ES256 signature must be 64 bytes");
  }
  bssl::UniquePtr<ECDSA_SIG> sig(ECDSA_SIG_new());
  bssl::UniquePtr<BIGNUM> r(BN_bin2bn(reinterpret_cast<const uint8_t*>(raw.data()), 32, nullptr));
  bssl::UniquePtr<BIGNUM> s(
      BN_bin2bn(reinterpret_cast<const uint8_t*>(raw.data()) + 32, 32, nullptr));
  if (!sig || !r || !s || !ECDSA_SIG_set0(sig.get(), r.get(), s.get())) {
    return absl::InternalError("ECDSA_SIG_set0 failed");
  }
  r.release();
  s.release();
  uint8_t* der = nullptr;
  size_t der_len = 0;
  if (!ECDSA_SIG_to_bytes(&der, &der_len, sig.get())) {
    return absl::InternalError("ECDSA_SIG_to_bytes failed");
  }
  std::string out(reinterpret_cast<char*>(der), der_len);
  OPENSSL_free(der);
  return out;
}

bool VerifySignature(EVP_PKEY* key, absl::string_view signed_part, absl::string_view signature) {
  bssl::ScopedEVP_MD_CTX ctx;
  const bool ok =
      EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1 &&
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const uint8_t*>(signature.data()),
                       signature.size(), reinterpret_cast<const uint8_t*>(signed_part.data()),
                       signed_part.size()) == 1;
  ERR_clear_error();
  return ok;
}

// A NumericDate claim (seconds since the epoch, possibly fractional).
absl::StatusOr<absl::Time> TimeClaim(const nlohmann::json& claims, const char* name) {
  const nlohmann::json& v = claims[name];
  if (!v.is_number() || !std::isfinite(v.get<double>())) {
    return Refuse("token_malformed", absl::StrCat("\"", name, "\" is not a number"));
  }
  return absl::FromUnixSeconds(static_cast<int64_t>(std::floor(v.get<double>())));
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

}  // namespace

absl::StatusOr<identity::SpiffeId> ServiceAccountVerifier::Verify(absl::string_view token,
                                                                  absl::Time now) const {
  if (token.size() > kMaxTokenSize) {
    return Refuse("token_malformed", absl::StrCat("longer than ", kMaxTokenSize, " bytes"));
  }
  const std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) {
    return Refuse("token_malformed", "not a compact JWS (header.payload.signature)");
  }
  ASSIGN_OR_RETURN(nlohmann::json header, DecodeObject(parts[0], "header"));
  if (!header.contains("alg") || !header["alg"].is_string()) {
    return Refuse("token_malformed", "header has no \"alg\"");
  }
  const std::string alg = header["alg"].get<std::string>();
  JwkAlgorithm algorithm;
  if (alg == "RS256") {
    algorithm = JwkAlgorithm::kRs256;
  } else if (alg == "ES256") {
    algorithm = JwkAlgorithm::kEs256;
  } else {
    return Refuse("token_unsupported_algorithm",
                  absl::StrCat("alg \"", alg, "\" is not accepted (RS256 or ES256 only)"));
  }
  if (header.contains("crit")) {
    return Refuse("token_malformed", "header has \"crit\" extensions this verifier does not know");
  }
  std::string kid;
  if (header.contains("kid")) {
    if (!header["kid"].is_string()) return Refuse("token_malformed", "\"kid\" is not a string");
    kid = header["kid"].get<std::string>();
  }
  const std::shared_ptr<const Jwks> jwks = this->jwks();  // the same set throughout
  const std::vector<const Jwk*> keys = jwks->Find(algorithm, kid);
  if (keys.empty() || (kid.empty() && keys.size() != 1)) {
    if (options_.on_unknown_key) options_.on_unknown_key();
    return Refuse("token_unknown_key",
                  kid.empty()
                      ? absl::StrCat("no kid, and the JWKS has ", keys.size(), " ", alg, " keys")
                      : absl::StrCat("no ", alg, " key with kid \"", kid, "\" in the JWKS"));
  }
  absl::StatusOr<std::string> signature = Base64UrlDecode(parts[2]);
  if (!signature.ok()) {
    return Refuse("token_malformed", absl::StrCat("signature: ", signature.status().message()));
  }
  if (algorithm == JwkAlgorithm::kEs256) {
    ASSIGN_OR_RETURN(signature, EcdsaRawToDer(*signature));
  }
  const absl::string_view signed_part(parts[0].data(), parts[0].size() + 1 + parts[1].size());
  bool verified = false;
  for (const Jwk* key : keys)
    verified = verified || VerifySignature(key->key.get(), signed_part, *signature);
  if (!verified) return Refuse("token_bad_signature", "signature does not verify");

  // Only now, with the signature checked, are the claims worth reading.
  ASSIGN_OR_RETURN(nlohmann::json claims, DecodeObject(parts[1], "payload"));
  if (!claims.contains("iss") || claims["iss"] != options_.issuer) {
    return Refuse("token_wrong_issuer", absl::StrCat("\"iss\" is not \"", options_.issuer, "\""));
  }
  bool audience_ok = false;
  if (claims.contains("aud")) {
    const nlohmann::json& aud = claims["aud"];
    if (aud.is_string()) audience_ok = aud == options_.audience;
    if (aud.is_array()) {
      for (const auto& a : aud)
        audience_ok = audience_ok || (a.is_string() && a == options_.audience);
    }
  }
  if (!audience_ok) {
    return Refuse("token_wrong_audience",
                  absl::StrCat("\"aud\" does not include \"", options_.audience, "\""));
  }
  if (!claims.contains("exp")) return Refuse("token_malformed", "no \"exp\"");
  ASSIGN_OR_RETURN(absl::Time exp, TimeClaim(claims, "exp"));
  if (now >= exp + options_.clock_skew) {
    return Refuse("token_expired", absl::StrCat("expired at ", Rfc3339(exp)));
  }
  if (claims.contains("nbf")) {
    ASSIGN_OR_RETURN(absl::Time nbf, TimeClaim(claims, "nbf"));
    if (now < nbf - options_.clock_skew) {
      return Refuse("token_not_yet_valid", absl::StrCat("not valid before ", Rfc3339(nbf)));
    }
  }
  if (!claims.contains("sub") || !claims["sub"].is_string()) {
    return Refuse("token_bad_subject", "no \"sub\"");
  }
  absl::StatusOr<identity::SpiffeId> id =
      identity::SpiffeIdForServiceAccount(options_.trust_domain, claims["sub"].get<std::string>());
  if (!id.ok()) return Refuse("token_bad_subject", id.status().message());
  return id;
}

void ServiceAccountVerifier::ReplaceJwks(std::shared_ptr<const Jwks> jwks) {
  sync::MutexLock lock(&mu_);
  jwks_ = std::move(jwks);
}

std::shared_ptr<const Jwks> ServiceAccountVerifier::jwks() const {
  sync::MutexLock lock(&mu_);
  return jwks_;
}

}  // namespace palisade::control::auth
