#include "identity/gateway_trust.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "identity/certificate.h"
#include "identity/keys.h"
#include "identity/svid_verifier.h"

namespace palisade {
namespace identity {
namespace {

ClientVerification Refuse(VerifyReason reason, std::string detail) {
  ClientVerification result;
  result.reason = reason;
  result.detail = std::move(detail);
  return result;
}

std::string Utc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// "leaf (CN=a,O=b)", "CA at depth 1 (...)".
std::string Named(X509* cert, int depth) {
  return absl::StrCat(depth == 0 ? "leaf" : absl::StrCat("CA at depth ", depth), " (",
                      SubjectOf(cert), ")");
}

bool SignedWithSha1OrMd5(X509* cert) {
  switch (X509_get_signature_nid(cert)) {
    case NID_md2WithRSAEncryption:
    case NID_md4WithRSAEncryption:
    case NID_md5WithRSAEncryption:
    case NID_md5WithRSA:
    case NID_shaWithRSAEncryption:
    case NID_sha1WithRSAEncryption:
    case NID_sha1WithRSA:
    case NID_ecdsa_with_SHA1:
    case NID_dsaWithSHA1:
    case NID_dsaWithSHA1_2:
      return true;
    default:
      return false;
  }
}

// The clock skew needs two instants; BoringSSL checks one. Certificate time
// errors are left to the checks after the path is built (CRL times are not:
// an out-of-date CRL is no revocation information).
int SkipCertificateTimes(int ok, X509_STORE_CTX* ctx) {
  if (ok) return ok;
  const int error = X509_STORE_CTX_get_error(ctx);
  return error == X509_V_ERR_CERT_HAS_EXPIRED || error == X509_V_ERR_CERT_NOT_YET_VALID;
}

ClientVerification PathFailure(X509_STORE_CTX* ctx) {
  const int error = X509_STORE_CTX_get_error(ctx);
  const int depth = X509_STORE_CTX_get_error_depth(ctx);
  X509* cert = X509_STORE_CTX_get_current_cert(ctx);
  const std::string what =
      absl::StrCat(cert != nullptr ? Named(cert, depth) : absl::StrCat("depth ", depth), ": ",
                   X509_verify_cert_error_string(error));
  switch (error) {
    case X509_V_ERR_CERT_REVOKED:
      return Refuse(VerifyReason::kCertificateRevoked, what);
    case X509_V_ERR_UNABLE_TO_GET_CRL:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_CRL_NOT_YET_VALID:
    case X509_V_ERR_CRL_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
    case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
    case X509_V_ERR_KEYUSAGE_NO_CRL_SIGN:
    case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
    case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
    case X509_V_ERR_DIFFERENT_CRL_SCOPE:
    case X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION:
      return Refuse(VerifyReason::kCrlUnavailable,
                    absl::StrCat(what, " (crl_files must hold a current CRL of every issuer)"));
    case X509_V_ERR_INVALID_PURPOSE:
      return Refuse(VerifyReason::kBadKeyUsage,
                    absl::StrCat(what, " (a client certificate needs clientAuth)"));
    case X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION:
    case X509_V_ERR_INVALID_EXTENSION:
    case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
    case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
      return Refuse(VerifyReason::kMalformedCertificate, what);
    default:
      return Refuse(VerifyReason::kUntrustedChain, what);
  }
}

// The rules X509_verify_cert leaves to us, over the built path (leaf first).
ClientVerification CheckPathRules(const std::vector<X509*>& path,
                                  const ClientVerifyOptions& options) {
  X509* leaf = path[0];
  const uint32_t flags = X509_get_extension_flags(leaf);
  if (flags & EXFLAG_CA)
    return Refuse(VerifyReason::kLeafIsCa, "leaf has basicConstraints CA:true");
  if (flags & EXFLAG_KUSAGE) {
    const uint32_t usage = X509_get_key_usage(leaf);
    if (usage & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) {
      return Refuse(VerifyReason::kLeafIsCa, "leaf keyUsage has keyCertSign or cRLSign");
    }
    if (!(usage & KU_DIGITAL_SIGNATURE)) {
      return Refuse(VerifyReason::kBadKeyUsage, "leaf keyUsage lacks digitalSignature");
    }
  }
  if ((flags & EXFLAG_XKUSAGE) && !(X509_get_extended_key_usage(leaf) & XKU_SSL_CLIENT)) {
    return Refuse(VerifyReason::kBadKeyUsage, "leaf extendedKeyUsage lacks clientAuth");
  }
  for (size_t i = 1; i < path.size(); ++i) {
    if ((X509_get_extension_flags(path[i]) & EXFLAG_KUSAGE) &&
        !(X509_get_key_usage(path[i]) & KU_KEY_CERT_SIGN)) {
      return Refuse(VerifyReason::kBadKeyUsage,
                    absl::StrCat(Named(path[i], i), ": keyUsage lacks keyCertSign"));
    }
  }
  for (size_t i = 0; i < path.size(); ++i) {
    bssl::UniquePtr<EVP_PKEY> key(X509_get_pubkey(path[i]));
    if (absl::Status s = CheckKeyStrength(key.get(), KeyPolicy::kCertificate); !s.ok()) {
      ERR_clear_error();
      return Refuse(VerifyReason::kWeakKey, absl::StrCat(Named(path[i], i), ": ", s.message()));
    }
    if (i + 1 < path.size() && SignedWithSha1OrMd5(path[i])) {
      return Refuse(VerifyReason::kWeakSignature,
                    absl::StrCat(Named(path[i], i), ": signed with ",
                                 OBJ_nid2sn(X509_get_signature_nid(path[i]))));
    }
  }
  for (size_t i = 0; i < path.size(); ++i) {
    if (options.now + options.clock_skew < NotBefore(path[i])) {
      return Refuse(VerifyReason::kNotYetValid,
                    absl::StrCat(Named(path[i], i), ": not valid before ", Utc(NotBefore(path[i])),
                                 "; now ", Utc(options.now)));
    }
    if (options.now - options.clock_skew > NotAfter(path[i])) {
      return Refuse(VerifyReason::kExpired,
                    absl::StrCat(Named(path[i], i), ": expired at ", Utc(NotAfter(path[i])),
                                 "; now ", Utc(options.now)));
    }
  }
  return ClientVerification();
}

// The first general name of `type` as text.
std::optional<std::string> FirstName(X509* leaf, int type) {
  bssl::UniquePtr<GENERAL_NAMES> names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr)));
  ERR_clear_error();
  if (names == nullptr) return std::nullopt;
  for (size_t i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type != type) continue;
    const ASN1_STRING* s = name->d.ia5;  // URI, DNS and email are all IA5Strings
    return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                       ASN1_STRING_length(s));
  }
  return std::nullopt;
}

std::optional<std::string> FirstCommonName(X509* leaf) {
  X509_NAME* subject = X509_get_subject_name(leaf);
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) return std::nullopt;
  unsigned char* utf8 = nullptr;
  const int n =
      ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index)));
  if (n < 0) {
    ERR_clear_error();
    return std::nullopt;
  }
  std::string cn(reinterpret_cast<char*>(utf8), n);
  OPENSSL_free(utf8);
  return cn;
}

}  // namespace

absl::StatusOr<IdentityFrom> ParseIdentityFrom(absl::string_view text) {
  if (text.empty() || text == "dns_san") return IdentityFrom::kDnsSan;
  if (text == "uri_san") return IdentityFrom::kUriSan;
  if (text == "email_san") return IdentityFrom::kEmailSan;
  if (text == "subject_cn") return IdentityFrom::kSubjectCn;
  return absl::InvalidArgumentError(absl::StrCat(
      "\"", absl::CEscape(text), "\" is not one of: uri_san, dns_san, email_san, subject_cn"));
}

absl::string_view IdentityFromName(IdentityFrom from) {
  switch (from) {
    case IdentityFrom::kUriSan:
      return "uri_san";
    case IdentityFrom::kDnsSan:
      return "dns_san";
    case IdentityFrom::kEmailSan:
      return "email_san";
    case IdentityFrom::kSubjectCn:
      return "subject_cn";
  }
  return "dns_san";
}

std::string SubjectOf(X509* cert) {
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) < 0) {
    ERR_clear_error();
    return "";
  }
  const uint8_t* data = nullptr;
  size_t length = 0;
  BIO_mem_contents(bio.get(), &data, &length);
  return std::string(reinterpret_cast<const char*>(data), length);
}

absl::StatusOr<std::string> ClientIdentityOf(X509* leaf, IdentityFrom from) {
  std::optional<std::string> value;
  switch (from) {
    case IdentityFrom::kUriSan:
      value = FirstName(leaf, GEN_URI);
      break;
    case IdentityFrom::kDnsSan:
      value = FirstName(leaf, GEN_DNS);
      if (value.has_value()) absl::AsciiStrToLower(&*value);
      break;
    case IdentityFrom::kEmailSan:
      value = FirstName(leaf, GEN_EMAIL);
      break;
    case IdentityFrom::kSubjectCn:
      value = FirstCommonName(leaf);
      break;
  }
  const absl::string_view what = IdentityFromName(from);
  if (!value.has_value() || value->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the leaf has no ", what, " (identity_from: ", what, ")"));
  }
  // It becomes a metric label and a log field: printable ASCII only.
  constexpr size_t kMaxIdentity = 255;
  if (value->size() > kMaxIdentity ||
      !std::all_of(value->begin(), value->end(), [](char c) { return c > 0x20 && c < 0x7f; })) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the leaf's ", what, " is not 1 to 255 printable ASCII characters without spaces"));
  }
  return *std::move(value);
}

absl::StatusOr<std::vector<bssl::UniquePtr<X509_CRL>>> ParsePemCrls(absl::string_view pem) {
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), pem.size()));
  if (bio == nullptr) return absl::ResourceExhaustedError("out of memory");
  std::vector<bssl::UniquePtr<X509_CRL>> crls;
  for (;;) {
    bssl::UniquePtr<X509_CRL> crl(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
    if (crl == nullptr) break;
    crls.push_back(std::move(crl));
  }
  const uint32_t error = ERR_peek_last_error();
  ERR_clear_error();
  // The loop ends at the end of the text (no start line) or at a bad block.
  if (ERR_GET_LIB(error) == ERR_LIB_PEM && ERR_GET_REASON(error) == PEM_R_NO_START_LINE) {
    if (crls.empty()) return absl::InvalidArgumentError("no X509 CRL block");
    return crls;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("CRL ", crls.size() + 1, " does not parse (corrupt PEM or DER)"));
}

absl::StatusOr<std::shared_ptr<const GatewayTrust>> GatewayTrust::Create(
    std::vector<bssl::UniquePtr<X509>> roots, std::vector<bssl::UniquePtr<X509_CRL>> crls) {
  if (roots.empty()) return absl::InvalidArgumentError("no CA certificate");
  std::shared_ptr<GatewayTrust> trust(new GatewayTrust());
  trust->store_.reset(X509_STORE_new());
  if (trust->store_ == nullptr) return absl::ResourceExhaustedError("out of memory");
  for (size_t i = 0; i < roots.size(); ++i) {
    X509* root = roots[i].get();
    if (!(X509_get_extension_flags(root) & EXFLAG_CA)) {
      ERR_clear_error();
      return absl::InvalidArgumentError(absl::StrCat("certificate ", i + 1, " (", SubjectOf(root),
                                                     ") is not a CA (basicConstraints)"));
    }
    const std::string fingerprint = Sha256Fingerprint(root);
    if (std::find(trust->fingerprints_.begin(), trust->fingerprints_.end(), fingerprint) !=
        trust->fingerprints_.end()) {
      continue;
    }
    if (!X509_STORE_add_cert(trust->store_.get(), root)) {
      ERR_clear_error();
      return absl::InvalidArgumentError(absl::StrCat("certificate ", i + 1, " was refused"));
    }
    trust->fingerprints_.push_back(fingerprint);
  }
  for (size_t i = 0; i < crls.size(); ++i) {
    if (!X509_STORE_add_crl(trust->store_.get(), crls[i].get())) {
      ERR_clear_error();
      return absl::InvalidArgumentError(absl::StrCat("CRL ", i + 1, " was refused"));
    }
  }
  trust->crl_count_ = crls.size();
  unsigned long flags = X509_V_FLAG_PARTIAL_CHAIN;
  if (!crls.empty()) flags |= X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL;
  X509_STORE_set_flags(trust->store_.get(), flags);
  return std::shared_ptr<const GatewayTrust>(std::move(trust));
}

ClientVerification GatewayTrust::Verify(absl::Span<X509* const> chain,
                                        const ClientVerifyOptions& options) const {
  if (chain.empty() || chain[0] == nullptr) {
    return Refuse(VerifyReason::kNoCertificate, "the client sent no certificate");
  }
  if (chain.size() > kMaxPeerChainLength) {
    return Refuse(VerifyReason::kUntrustedChain,
                  absl::StrCat("the client sent ", chain.size(), " certificates; at most ",
                               kMaxPeerChainLength, " are accepted"));
  }
  X509* leaf = chain[0];
  if (X509_get_extension_flags(leaf) & EXFLAG_INVALID) {
    ERR_clear_error();
    return Refuse(VerifyReason::kMalformedCertificate, "leaf has malformed extensions");
  }
  bssl::UniquePtr<STACK_OF(X509)> untrusted(sk_X509_new_null());
  bssl::UniquePtr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  if (untrusted == nullptr || ctx == nullptr) {
    ERR_clear_error();
    return Refuse(VerifyReason::kUntrustedChain, "out of memory");
  }
  for (size_t i = 1; i < chain.size(); ++i) {
    if (chain[i] == nullptr || !bssl::PushToStack(untrusted.get(), bssl::UpRef(chain[i]))) {
      ERR_clear_error();
      return Refuse(VerifyReason::kMalformedCertificate, absl::StrCat("certificate ", i));
    }
  }
  if (!X509_STORE_CTX_init(ctx.get(), store_.get(), leaf, untrusted.get())) {
    ERR_clear_error();
    return Refuse(VerifyReason::kUntrustedChain, "X509_STORE_CTX_init failed");
  }
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT);
  X509_STORE_CTX_set_time(ctx.get(), 0, absl::ToTimeT(options.now));
  X509_STORE_CTX_set_verify_cb(ctx.get(), SkipCertificateTimes);
  if (X509_verify_cert(ctx.get()) != 1) {
    ClientVerification failure = PathFailure(ctx.get());
    ERR_clear_error();
    return failure;
  }
  ERR_clear_error();
  STACK_OF(X509)* built = X509_STORE_CTX_get0_chain(ctx.get());
  std::vector<X509*> path;
  for (size_t i = 0; i < sk_X509_num(built); ++i) path.push_back(sk_X509_value(built, i));
  if (path.size() < 2)
    return Refuse(VerifyReason::kUntrustedChain, "the leaf is not issued by a CA");
  if (ClientVerification rules = CheckPathRules(path, options); !rules.ok()) return rules;

  absl::StatusOr<std::string> id = ClientIdentityOf(leaf, options.identity_from);
  if (!id.ok()) return Refuse(VerifyReason::kNoClientIdentity, std::string(id.status().message()));
  VerifiedClient client{*std::move(id), SubjectOf(leaf), SerialHex(leaf), absl::InfiniteFuture(),
                        Sha256Fingerprint(path.back())};
  for (X509* cert : path) client.chain_not_after = std::min(client.chain_not_after, NotAfter(cert));
  ClientVerification result;
  result.client = std::move(client);
  return result;
}

}  // namespace identity
}  // namespace palisade
