#include "tests/util/test_jwt.h"

#include <openssl/bn.h>
#include <openssl/bytestring.h>
#include <openssl/digest.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/ecdsa.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/rsa.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace palisade::testing {
namespace {

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "test_jwt: %s\n", what);
  std::abort();
}

std::string BnBytes(const BIGNUM* bn, size_t width = 0) {
  std::vector<uint8_t> out(width != 0 ? width : BN_num_bytes(bn));
  if (!BN_bn2bin_padded(out.data(), out.size(), bn)) Die("BN_bn2bin_padded");
  return std::string(out.begin(), out.end());
}

std::string RawSign(EVP_PKEY* key, const std::string& data) {
  bssl::ScopedEVP_MD_CTX ctx;
  size_t len = 0;
  if (!EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) ||
      !EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const uint8_t*>(data.data()),
                      data.size())) {
    Die("EVP_DigestSign size");
  }
  std::vector<uint8_t> sig(len);
  if (!EVP_DigestSign(ctx.get(), sig.data(), &len, reinterpret_cast<const uint8_t*>(data.data()),
                      data.size())) {
    Die("EVP_DigestSign");
  }
  sig.resize(len);
  if (EVP_PKEY_id(key) != EVP_PKEY_EC) return std::string(sig.begin(), sig.end());
  // DER ECDSA-Sig-Value -> r || s, as JWS wants.
  bssl::UniquePtr<ECDSA_SIG> parsed(ECDSA_SIG_from_bytes(sig.data(), sig.size()));
  if (!parsed) Die("ECDSA_SIG_from_bytes");
  const BIGNUM *r, *s;
  ECDSA_SIG_get0(parsed.get(), &r, &s);
  return BnBytes(r, 32) + BnBytes(s, 32);
}

}  // namespace

std::string Base64Url(const std::string& data) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (; i < data.size(); ++i) {
    acc = (acc << 8) | static_cast<uint8_t>(data[i]);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 63]);
  return out;
}

TestJwtIssuer::TestJwtIssuer(std::string rsa_kid, std::string ec_kid) : TestJwtIssuer() {
  rsa_kid_ = std::move(rsa_kid);
  ec_kid_ = std::move(ec_kid);
}

TestJwtIssuer::TestJwtIssuer() {
  bssl::UniquePtr<RSA> rsa(RSA_new());
  bssl::UniquePtr<BIGNUM> e(BN_new());
  if (!rsa || !e || !BN_set_word(e.get(), RSA_F4) ||
      !RSA_generate_key_ex(rsa.get(), 2048, e.get(), nullptr)) {
    Die("RSA generation");
  }
  rsa_.reset(EVP_PKEY_new());
  if (!EVP_PKEY_assign_RSA(rsa_.get(), rsa.release())) Die("EVP_PKEY_assign_RSA");
  bssl::UniquePtr<EC_KEY> ec(EC_KEY_new_by_curve_name(NID_X9_62_prime256v1));
  if (!ec || !EC_KEY_generate_key(ec.get())) Die("EC generation");
  ec_.reset(EVP_PKEY_new());
  if (!EVP_PKEY_assign_EC_KEY(ec_.get(), ec.release())) Die("EVP_PKEY_assign_EC_KEY");
}

std::string TestJwtIssuer::JwksJson() const {
  const RSA* rsa = EVP_PKEY_get0_RSA(rsa_.get());
  const EC_KEY* ec = EVP_PKEY_get0_EC_KEY(ec_.get());
  bssl::UniquePtr<BIGNUM> x(BN_new()), y(BN_new());
  if (!EC_POINT_get_affine_coordinates_GFp(EC_KEY_get0_group(ec), EC_KEY_get0_public_key(ec),
                                           x.get(), y.get(), nullptr)) {
    Die("EC_POINT_get_affine_coordinates");
  }
  nlohmann::json jwks = {{"keys",
                          {{{"kty", "RSA"},
                            {"use", "sig"},
                            {"alg", "RS256"},
                            {"kid", rsa_kid_},
                            {"n", Base64Url(BnBytes(RSA_get0_n(rsa)))},
                            {"e", Base64Url(BnBytes(RSA_get0_e(rsa)))}},
                           {{"kty", "EC"},
                            {"use", "sig"},
                            {"crv", "P-256"},
                            {"kid", ec_kid_},
                            {"x", Base64Url(BnBytes(x.get(), 32))},
                            {"y", Base64Url(BnBytes(y.get(), 32))}}}}};
  return jwks.dump();
}

nlohmann::json TestJwtIssuer::Claims(const std::string& issuer, const std::string& audience,
                                     const std::string& ns, const std::string& sa, absl::Time now,
                                     absl::Duration ttl) {
  const int64_t iat = absl::ToUnixSeconds(now);
  return {{"iss", issuer},
          {"aud", nlohmann::json::array({audience})},
          {"sub", "system:serviceaccount:" + ns + ":" + sa},
          {"iat", iat},
          {"nbf", iat},
          {"exp", absl::ToUnixSeconds(now + ttl)},
          {"kubernetes.io", {{"namespace", ns}, {"serviceaccount", {{"name", sa}}}}}};
}

std::string TestJwtIssuer::Sign(const std::string& alg, const nlohmann::json& claims) const {
  return SignWithHeader(
      {{"alg", alg}, {"kid", alg == "ES256" ? ec_kid_ : rsa_kid_}, {"typ", "JWT"}}, claims);
}

std::string TestJwtIssuer::SignWithHeader(const nlohmann::json& header,
                                          const nlohmann::json& claims) const {
  const std::string signed_part = Base64Url(header.dump()) + "." + Base64Url(claims.dump());
  EVP_PKEY* key = header.value("alg", "") == "ES256" ? ec_.get() : rsa_.get();
  return signed_part + "." + Base64Url(RawSign(key, signed_part));
}

}  // namespace palisade::testing
