// JWTs for tests: an issuer with an RSA-2048 and an EC P-256 key, its JWKS
// JSON, and compact tokens signed RS256 or ES256 from any header and claims,
// including deliberately broken ones.
#ifndef PALISADE_TESTS_UTIL_TEST_JWT_H_
#define PALISADE_TESTS_UTIL_TEST_JWT_H_

#include <openssl/evp.h>

#include <nlohmann/json.hpp>
#include <string>

#include "absl/time/time.h"

namespace palisade::testing {

class TestJwtIssuer {
 public:
  // Makes the keys (RSA generation takes a fraction of a second).
  TestJwtIssuer();
  // The same with other kids (a rotated key set).
  TestJwtIssuer(std::string rsa_kid, std::string ec_kid);

  static constexpr char kRsaKid[] = "rsa-1";
  static constexpr char kEcKid[] = "ec-1";

  // {"keys": [RSA key kRsaKid, EC key kEcKid]} (or the kids given).
  std::string JwksJson() const;

  // Claims of a valid projected service-account token.
  static nlohmann::json Claims(const std::string& issuer, const std::string& audience,
                               const std::string& ns, const std::string& sa, absl::Time now,
                               absl::Duration ttl = absl::Minutes(10));
  // "RS256" with kRsaKid or "ES256" with kEcKid (or the kids given).
  std::string Sign(const std::string& alg, const nlohmann::json& claims) const;
  // Signs `header` as given (alg "RS256"/"ES256" pick the key; anything else
  // signs with RSA so that the verifier's algorithm check is what refuses).
  std::string SignWithHeader(const nlohmann::json& header, const nlohmann::json& claims) const;

  EVP_PKEY* rsa_key() const { return rsa_.get(); }
  EVP_PKEY* ec_key() const { return ec_.get(); }

 private:
  std::string rsa_kid_ = kRsaKid;
  std::string ec_kid_ = kEcKid;
  bssl::UniquePtr<EVP_PKEY> rsa_;
  bssl::UniquePtr<EVP_PKEY> ec_;
};

std::string Base64Url(const std::string& data);

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_UTIL_TEST_JWT_H_
