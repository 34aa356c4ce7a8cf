#include "identity/spiffe_bundle.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include <nlohmann/json.hpp>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "identity/certificate.h"
#include "identity/spiffe_id.h"
#include "runtime/status/status_macros.h"

namespace palisade {
namespace identity {
namespace {

constexpr char kX509SvidUse[] = "x509-svid";

absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::Status KeyError(size_t index, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("keys[", index, "]: ", message));
}

std::string BigEndian(const BIGNUM* bn, size_t width) {
  std::string out(width == 0 ? BN_num_bytes(bn) : width, '\0');
  if (width == 0) {
    BN_bn2bin(bn, reinterpret_cast<uint8_t*>(out.data()));
  } else if (!BN_bn2bin_padded(reinterpret_cast<uint8_t*>(out.data()), out.size(), bn)) {
    return "";
  }
  return out;
}

// The JWK "kty" and public-key parameters (RFC 7518 section 6) of `cert`'s key,
// base64url without padding, as RFC 7518 fixes them (full-width EC coordinates,
// minimal RSA integers). Only "kty" for other key types.
nlohmann::json PublicKeyParams(X509* cert) {
  nlohmann::json params = nlohmann::json::object();
  bssl::UniquePtr<EVP_PKEY> key(X509_get_pubkey(cert));
  ERR_clear_error();
  if (key == nullptr) return params;
  if (const EC_KEY* ec = EVP_PKEY_get0_EC_KEY(key.get()); ec != nullptr) {
    params["kty"] = "EC";
    const EC_GROUP* group = EC_KEY_get0_group(ec);
    const EC_POINT* point = EC_KEY_get0_public_key(ec);
    const char* crv = nullptr;
    switch (EC_GROUP_get_curve_name(group)) {
      case NID_X9_62_prime256v1:
        crv = "P-256";
        break;
      case NID_secp384r1:
        crv = "P-384";
        break;
      case NID_secp521r1:
        crv = "P-521";
        break;
      default:
        return params;  // no JOSE name: "kty" only, which Parse refuses
    }
    bssl::UniquePtr<BIGNUM> x(BN_new()), y(BN_new());
    if (point == nullptr || x == nullptr || y == nullptr ||
        !EC_POINT_get_affine_coordinates_GFp(group, point, x.get(), y.get(), nullptr)) {
      ERR_clear_error();
      return params;
    }
    const size_t width = (EC_GROUP_get_degree(group) + 7) / 8;
    params["crv"] = crv;
    params["x"] = absl::WebSafeBase64Escape(BigEndian(x.get(), width));
    params["y"] = absl::WebSafeBase64Escape(BigEndian(y.get(), width));
  } else if (const RSA* rsa = EVP_PKEY_get0_RSA(key.get()); rsa != nullptr) {
    params["kty"] = "RSA";
    params["n"] = absl::WebSafeBase64Escape(BigEndian(RSA_get0_n(rsa), 0));
    params["e"] = absl::WebSafeBase64Escape(BigEndian(RSA_get0_e(rsa), 0));
  } else {
    params["kty"] = "unsupported";
  }
  return params;
}

// The one certificate of an x509-svid key's "x5c", checked to be a CA.
absl::StatusOr<bssl::UniquePtr<X509>> X5cCertificate(const nlohmann::json& key, size_t index) {
  const auto x5c = key.find("x5c");
  if (x5c == key.end() || !x5c->is_array() || x5c->size() != 1) {
    return KeyError(index, "x509-svid key must carry exactly one certificate in x5c");
  }
  if (!(*x5c)[0].is_string()) return KeyError(index, "x5c[0] must be a string");
  const std::string& text = (*x5c)[0].get_ref<const std::string&>();
  std::string der;
  // RFC 7517 section 4.7: standard base64, not base64url. Only the canonical
  // (padded) encoding is accepted, so one certificate has one spelling.
  if (!absl::Base64Unescape(text, &der) || absl::Base64Escape(der) != text) {
    return KeyError(index, "x5c[0] is not standard base64 (RFC 7517 section 4.7)");
  }
  absl::StatusOr<bssl::UniquePtr<X509>> cert = ParseDerCertificate(der);
  if (!cert.ok()) return KeyError(index, absl::StrCat("x5c[0]: ", cert.status().message()));
  const uint32_t flags = X509_get_extension_flags(cert->get());
  ERR_clear_error();
  if (flags & EXFLAG_INVALID) {
    return KeyError(index, "x5c[0] certificate has malformed extensions");
  }
  if (!(flags & EXFLAG_CA)) {
    return KeyError(index,
                    "x5c[0] certificate is not a CA (basicConstraints CA:true); an X.509 "
                    "authority must be a CA");
  }
  return std::move(cert).value();
}

// "kty" and the key's parameters must be present and equal the certificate's.
absl::Status CheckKeyParams(const nlohmann::json& key, X509* cert, size_t index) {
  const nlohmann::json expected = PublicKeyParams(cert);
  const auto kty = key.find("kty");
  if (kty == key.end() || !kty->is_string()) return KeyError(index, "kty is required");
  const std::string want_kty = expected.value("kty", "");
  if (want_kty != "EC" && want_kty != "RSA") {
    return KeyError(index,
                    "x5c[0] certificate key is not EC (P-256, P-384, P-521) or RSA; no "
                    "other key type is supported");
  }
  if (*kty != want_kty) {
    return KeyError(index,
                    absl::StrCat("kty \"", kty->get<std::string>(),
                                 "\" does not match the x5c certificate's key (", want_kty, ")"));
  }
  for (const auto& [name, value] : expected.items()) {
    if (name == "kty") continue;
    const auto given = key.find(name);
    if (given == key.end()) {
      return KeyError(index, absl::StrCat(name, " is required for kty \"", want_kty, "\""));
    }
    if (*given != value) {
      return KeyError(index,
                      absl::StrCat(name, " does not match the x5c certificate's public key"));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseHeader(const nlohmann::json& doc, SpiffeBundle& bundle) {
  if (const auto seq = doc.find("spiffe_sequence"); seq != doc.end()) {
    if (!seq->is_number_unsigned()) {
      return absl::InvalidArgumentError("spiffe_sequence must be an unsigned 64-bit integer");
    }
    bundle.sequence = seq->get<uint64_t>();
  }
  if (const auto hint = doc.find("spiffe_refresh_hint"); hint != doc.end()) {
    if (!hint->is_number_integer()) {
      return absl::InvalidArgumentError("spiffe_refresh_hint must be an integer number of seconds");
    }
    const bool negative = hint->is_number_unsigned() ? false : hint->get<int64_t>() < 0;
    if (negative) return absl::InvalidArgumentError("spiffe_refresh_hint must not be negative");
    const uint64_t seconds = hint->get<uint64_t>();
    if (seconds > static_cast<uint64_t>(absl::ToInt64Seconds(kMaxSpiffeRefreshHint))) {
      return absl::InvalidArgumentError(
          absl::StrCat("spiffe_refresh_hint of ", seconds, " seconds exceeds the limit of ",
                       absl::ToInt64Seconds(kMaxSpiffeRefreshHint), " seconds"));
    }
    bundle.refresh_hint = absl::Seconds(static_cast<int64_t>(seconds));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SpiffeBundle> ParseSpiffeBundle(std::string_view json,
                                               std::string_view trust_domain) {
  RETURN_IF_ERROR(ValidateTrustDomain(Absl(trust_domain)));
  if (json.size() > kMaxSpiffeBundleSize) {
    return absl::InvalidArgumentError(absl::StrCat("bundle document of ", json.size(),
                                                   " bytes exceeds the limit of ",
                                                   kMaxSpiffeBundleSize, " bytes"));
  }
  const nlohmann::json doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return absl::InvalidArgumentError("bundle document is not valid JSON");
  if (!doc.is_object()) return absl::InvalidArgumentError("bundle document must be a JSON object");
  const auto keys = doc.find("keys");
  if (keys == doc.end() || !keys->is_array()) {
    return absl::InvalidArgumentError("bundle document must have a \"keys\" array");
  }
  SpiffeBundle bundle;
  bundle.trust_domain = std::string(trust_domain);
  RETURN_IF_ERROR(ParseHeader(doc, bundle));
  for (size_t i = 0; i < keys->size(); ++i) {
    const nlohmann::json& key = (*keys)[i];
    if (!key.is_object()) return KeyError(i, "key must be a JSON object");
    const auto use = key.find("use");
    if (use == key.end() || !use->is_string()) return KeyError(i, "use is required");
    // Other uses ("jwt-svid", or ones defined later) are not X.509 authorities.
    if (*use != kX509SvidUse) continue;
    ASSIGN_OR_RETURN(bssl::UniquePtr<X509> cert, X5cCertificate(key, i));
    RETURN_IF_ERROR(CheckKeyParams(key, cert.get(), i));
    bool duplicate = false;
    for (const bssl::UniquePtr<X509>& seen : bundle.x509_authorities) {
      duplicate = duplicate || X509_cmp(seen.get(), cert.get()) == 0;
    }
    if (!duplicate) bundle.x509_authorities.push_back(std::move(cert));
  }
  if (bundle.x509_authorities.empty()) {
    return absl::InvalidArgumentError(
        "bundle document has no x509-svid key: at least one X.509 authority is required");
  }
  return bundle;
}

std::string SerializeSpiffeBundle(const SpiffeBundle& bundle) {
  nlohmann::json keys = nlohmann::json::array();
  for (const bssl::UniquePtr<X509>& cert : bundle.x509_authorities) {
    nlohmann::json key = PublicKeyParams(cert.get());
    key["use"] = kX509SvidUse;
    key["x5c"] = nlohmann::json::array({absl::Base64Escape(CertificateToDer(cert.get()))});
    keys.push_back(std::move(key));
  }
  // nlohmann::json objects keep their members sorted by name: the output is a
  // function of the bundle alone.
  nlohmann::json doc = nlohmann::json::object();
  doc["keys"] = std::move(keys);
  if (bundle.sequence.has_value()) doc["spiffe_sequence"] = *bundle.sequence;
  if (bundle.refresh_hint.has_value()) {
    doc["spiffe_refresh_hint"] = absl::ToInt64Seconds(*bundle.refresh_hint);
  }
  return doc.dump(2) + "\n";
}

}  // namespace identity
}  // namespace palisade
