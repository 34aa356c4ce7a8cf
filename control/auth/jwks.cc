#include "control/auth/jwks.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/nid.h>
#include <openssl/rsa.h>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "control/auth/base64url.h"
#include "runtime/status/status_macros.h"

namespace palisade::control::auth {
namespace {

absl::StatusOr<std::string> Member(const nlohmann::json& key, const char* name) {
  if (!key.contains(name) || !key[name].is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("missing string member \"", name, "\""));
  }
  absl::StatusOr<std::string> bytes = Base64UrlDecode(key[name].get<std::string>());
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("\"", name, "\": ", bytes.status().message()));
  }
  if (bytes->empty()) return absl::InvalidArgumentError(absl::StrCat("\"", name, "\" is empty"));
  return bytes;
}

bssl::UniquePtr<BIGNUM> ToBignum(const std::string& bytes) {
  return bssl::UniquePtr<BIGNUM>(
      BN_bin2bn(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), nullptr));
}

absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> RsaKey(const nlohmann::json& key) {
  ASSIGN_OR_RETURN(std::string n, Member(key, "n"));
  ASSIGN_OR_RETURN(std::string e, Member(key, "e"));
  bssl::UniquePtr<BIGNUM> bn_n = ToBignum(n);
  bssl::UniquePtr<BIGNUM> bn_e = ToBignum(e);
  if (!bn_n || !bn_e) return absl::InternalError("BN_bin2bn failed");
  if (BN_num_bits(bn_n.get()) < 2048) {
    return absl::InvalidArgumentError(
        absl::StrCat("RSA modulus of ", BN_num_bits(bn_n.get()), " bits is weaker than 2048"));
  }
  if (BN_num_bits(bn_n.get()) > 8192) {
    return absl::InvalidArgumentError("RSA modulus larger than 8192 bits");
  }
  bssl::UniquePtr<RSA> rsa(RSA_new());
  if (!rsa || !RSA_set0_key(rsa.get(), bn_n.get(), bn_e.get(), nullptr)) {
    return absl::InternalError("RSA_set0_key failed");
  }
  bn_n.release();
  bn_e.release();
  if (!RSA_check_key(rsa.get())) {
    ERR_clear_error();
    return absl::InvalidArgumentError("RSA key fails its consistency check (bad exponent?)");
  }
  bssl::UniquePtr<EVP_PKEY> pkey(EVP_PKEY_new());
  if (!pkey || !EVP_PKEY_assign_RSA(pkey.get(), rsa.release())) {
    return absl::InternalError("EVP_PKEY_assign_RSA failed");
  }
  return pkey;
}

absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> EcKey(const nlohmann::json& key) {
  if (!key.contains("crv") || key["crv"] != "P-256") {
    return absl::InvalidArgumentError("EC key: only crv \"P-256\" is supported");
  }
  ASSIGN_OR_RETURN(std::string x, Member(key, "x"));
  ASSIGN_OR_RETURN(std::string y, Member(key, "y"));
  if (x.size() != 32 || y.size() != 32) {
    return absl::InvalidArgumentError("EC P-256 key: x and y must be 32 bytes each");
  }
  bssl::UniquePtr<EC_KEY> ec(EC_KEY_new_by_curve_name(NID_X9_62_prime256v1));
  if (!ec) return absl::InternalError("EC_KEY_new_by_curve_name failed");
  bssl::UniquePtr<BIGNUM> bx = ToBignum(x);
  bssl::UniquePtr<BIGNUM> by = ToBignum(y);
  // Rejects points that are not on the curve.
  if (!bx || !by || !EC_KEY_set_public_key_affine_coordinates(ec.get(), bx.get(), by.get())) {
    ERR_clear_error();
    return absl::InvalidArgumentError("EC P-256 key: (x, y) is not a point on the curve");
  }
  bssl::UniquePtr<EVP_PKEY> pkey(EVP_PKEY_new());
  if (!pkey || !EVP_PKEY_assign_EC_KEY(pkey.get(), ec.release())) {
    return absl::InternalError("EVP_PKEY_assign_EC_KEY failed");
  }
  return pkey;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Jwks>> Jwks::Parse(absl::string_view json) {
  nlohmann::json doc = nlohmann::json::parse(json.begin(), json.end(), nullptr, false);
  if (doc.is_discarded()) return absl::InvalidArgumentError("JWKS: not valid JSON");
  if (!doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array()) {
    return absl::InvalidArgumentError("JWKS: expected an object with a \"keys\" array");
  }
  auto jwks = std::make_shared<Jwks>();
  for (size_t i = 0; i < doc["keys"].size(); ++i) {
    const nlohmann::json& key = doc["keys"][i];
    auto fail = [i](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat("JWKS keys[", i, "]: ", what));
    };
    if (!key.is_object()) return fail("not an object");
    if (key.contains("use") && key["use"] != "sig") continue;
    if (!key.contains("kty") || !key["kty"].is_string()) return fail("missing \"kty\"");
    const std::string kty = key["kty"].get<std::string>();
    Jwk jwk;
    if (key.contains("kid")) {
      if (!key["kid"].is_string()) return fail("\"kid\" is not a string");
      jwk.kid = key["kid"].get<std::string>();
    }
    absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> pkey;
    if (kty == "RSA") {
      jwk.algorithm = JwkAlgorithm::kRs256;
      pkey = RsaKey(key);
    } else if (kty == "EC") {
      jwk.algorithm = JwkAlgorithm::kEs256;
      pkey = EcKey(key);
    } else {
      return fail(absl::StrCat("unsupported kty \"", kty, "\" (RSA and EC P-256 only)"));
    }
    if (!pkey.ok()) return fail(pkey.status().message());
    if (key.contains("alg")) {
      const std::string expected = jwk.algorithm == JwkAlgorithm::kRs256 ? "RS256" : "ES256";
      if (key["alg"] != expected) {
        return fail(absl::StrCat("\"alg\" must be ", expected, " for kty ", kty));
      }
    }
    jwk.key = *std::move(pkey);
    jwks->keys_.push_back(std::move(jwk));
  }
  return std::shared_ptr<const Jwks>(std::move(jwks));
}

std::vector<const Jwk*> Jwks::Find(JwkAlgorithm algorithm, absl::string_view kid) const {
  std::vector<const Jwk*> out;
  for (const Jwk& key : keys_) {
    if (key.algorithm != algorithm) continue;
    if (!kid.empty() && key.kid != kid) continue;
    out.push_back(&key);
  }
  return out;
}

}  // namespace palisade::control::auth
