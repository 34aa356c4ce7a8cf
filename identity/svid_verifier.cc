#include "identity/svid_verifier.h"

#include <openssl/err.h>
#include <openssl/nid.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "identity/certificate.h"
#include "identity/keys.h"

namespace palisade {
namespace identity {
namespace {

SvidVerification Fail(VerifyReason reason, std::string detail) {
  SvidVerification result;
  result.reason = reason;
  result.detail = std::move(detail);
  return result;
}

std::string TimeString(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// "leaf", "intermediate at depth 1", "trust anchor at depth 2" (or "certificate at
// depth 2" when the path is unknown, `path_length` 0), with the subject.
std::string Describe(X509* cert, size_t depth, size_t path_length) {
  char subject[256] = "";
  X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject));
  std::string role;
  if (depth == 0) {
    role = "leaf";
  } else if (path_length == 0) {
    role = absl::StrCat("certificate at depth ", depth);
  } else if (depth + 1 == path_length) {
    role = absl::StrCat("trust anchor at depth ", depth);
  } else {
    role = absl::StrCat("intermediate at depth ", depth);
  }
  return absl::StrCat(role, " (", subject, ")");
}

bool IsWeakSignature(int nid) {
  switch (nid) {
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

// BoringSSL checks times against one instant; the clock skew allowance needs two,
// so its time errors are ignored here and every certificate on the built path is
// checked afterwards.
int IgnoreTimeErrors(int ok, X509_STORE_CTX* ctx) {
  if (ok) return ok;
  const int error = X509_STORE_CTX_get_error(ctx);
  return error == X509_V_ERR_CERT_HAS_EXPIRED || error == X509_V_ERR_CERT_NOT_YET_VALID;
}

bool SameOctets(const ASN1_OCTET_STRING* a, const ASN1_OCTET_STRING* b) {
  return ASN1_STRING_length(a) == ASN1_STRING_length(b) &&
         std::equal(ASN1_STRING_get0_data(a), ASN1_STRING_get0_data(a) + ASN1_STRING_length(a),
                    ASN1_STRING_get0_data(b));
}

// BoringSSL does not consider a certificate whose keyUsage lacks keyCertSign as an
// issuer at all, so it reports "no issuer". When the peer sent (or the bundle holds)
// `cert`'s issuer, by name and key identifier, but it lacks keyCertSign, that is the
// rule broken. Only names and key identifiers are compared: a failing handshake must
// not cost extra signature checks.
X509* IssuerWithoutKeyCertSign(X509* cert, absl::Span<X509* const> chain,
                               const std::vector<bssl::UniquePtr<X509>>* anchors) {
  std::vector<X509*> candidates(chain.begin() + 1, chain.end());
  if (anchors != nullptr) {
    for (const bssl::UniquePtr<X509>& anchor : *anchors) candidates.push_back(anchor.get());
  }
  const ASN1_OCTET_STRING* authority_key_id = X509_get0_authority_key_id(cert);
  X509* found = nullptr;
  for (X509* candidate : candidates) {
    if (candidate == cert ||
        X509_NAME_cmp(X509_get_subject_name(candidate), X509_get_issuer_name(cert)) != 0 ||
        !(X509_get_extension_flags(candidate) & EXFLAG_KUSAGE) ||
        (X509_get_key_usage(candidate) & KU_KEY_CERT_SIGN)) {
      continue;
    }
    const ASN1_OCTET_STRING* subject_key_id = X509_get0_subject_key_id(candidate);
    if (authority_key_id != nullptr && subject_key_id != nullptr &&
        !SameOctets(authority_key_id, subject_key_id)) {
      continue;
    }
    found = candidate;
    break;
  }
  ERR_clear_error();
  return found;
}

// Maps the error X509_verify_cert stopped at to a reason.
SvidVerification ChainFailure(X509_STORE_CTX* ctx, absl::Span<X509* const> chain,
                              const std::vector<bssl::UniquePtr<X509>>* anchors) {
  const int error = X509_STORE_CTX_get_error(ctx);
  const int depth = X509_STORE_CTX_get_error_depth(ctx);
  X509* cert = X509_STORE_CTX_get_current_cert(ctx);
  const std::string where = cert == nullptr
                                ? absl::StrCat("depth ", depth)
                                : Describe(cert, static_cast<size_t>(depth), /*path_length=*/0);
  const std::string what = absl::StrCat(where, ": ", X509_verify_cert_error_string(error));
  switch (error) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      if (cert != nullptr) {
        if (X509* issuer = IssuerWithoutKeyCertSign(cert, chain, anchors); issuer != nullptr) {
          char subject[256] = "";
          X509_NAME_oneline(X509_get_subject_name(issuer), subject, sizeof(subject));
          return Fail(
              VerifyReason::kBadKeyUsage,
              absl::StrCat(where, ": its issuer (", subject, ") has keyUsage without keyCertSign"));
        }
      }
      return Fail(VerifyReason::kUntrustedChain, what);
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
      if (cert != nullptr && IsWeakSignature(X509_get_signature_nid(cert))) {
        return Fail(VerifyReason::kWeakSignature,
                    absl::StrCat(where, ": signed with a SHA-1 or MD5 based algorithm"));
      }
      return Fail(VerifyReason::kUntrustedChain, what);
    case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
      return Fail(VerifyReason::kWeakKey, absl::StrCat(what, " (key type or curve not supported)"));
    case X509_V_ERR_INVALID_CA:
      if (cert != nullptr && (X509_get_extension_flags(cert) & EXFLAG_CA) &&
          (X509_get_extension_flags(cert) & EXFLAG_KUSAGE) &&
          !(X509_get_key_usage(cert) & KU_KEY_CERT_SIGN)) {
        return Fail(VerifyReason::kBadKeyUsage,
                    absl::StrCat(where, ": signing certificate's keyUsage lacks keyCertSign"));
      }
      return Fail(VerifyReason::kUntrustedChain,
                  absl::StrCat(where, ": signing certificate is not a CA (basicConstraints)"));
    case X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION:
    case X509_V_ERR_INVALID_EXTENSION:
    case X509_V_ERR_INVALID_POLICY_EXTENSION:
    case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
    case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
      return Fail(VerifyReason::kMalformedCertificate, what);
    default:
      return Fail(VerifyReason::kUntrustedChain, what);
  }
}

SvidVerification CheckLeafRules(X509* leaf, PeerRole role) {
  const uint32_t flags = X509_get_extension_flags(leaf);
  if (flags & EXFLAG_CA) {
    return Fail(VerifyReason::kLeafIsCa, "leaf has basicConstraints CA:true");
  }
  // BoringSSL reads a missing keyUsage as "any usage"; X509-SVID does not.
  if (!(flags & EXFLAG_KUSAGE)) {
    return Fail(VerifyReason::kBadKeyUsage,
                "leaf has no keyUsage extension (X509-SVID section 4.3: required on a leaf, "
                "with digitalSignature)");
  }
  const uint32_t usage = X509_get_key_usage(leaf);
  if (usage & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) {
    return Fail(VerifyReason::kLeafIsCa,
                "leaf keyUsage has keyCertSign or cRLSign (X509-SVID section 4.3)");
  }
  if (!(usage & KU_DIGITAL_SIGNATURE)) {
    return Fail(VerifyReason::kBadKeyUsage,
                "leaf keyUsage lacks digitalSignature (X509-SVID section 4.3)");
  }
  if (role != PeerRole::kAny && (flags & EXFLAG_XKUSAGE)) {
    const bool client = role == PeerRole::kClient;
    if (!(X509_get_extended_key_usage(leaf) & (client ? XKU_SSL_CLIENT : XKU_SSL_SERVER))) {
      return Fail(VerifyReason::kBadKeyUsage,
                  client ? "leaf extendedKeyUsage lacks clientAuth (peer is a client)"
                         : "leaf extendedKeyUsage lacks serverAuth (peer is a server)");
    }
  }
  return SvidVerification();
}

// BoringSSL (like OpenSSL 1.0.2) applies pathLenConstraint only to the certificates
// the peer sent, not to the trust anchor; a root created with a pathLen must bind.
SvidVerification CheckPathLengths(const std::vector<X509*>& path) {
  const size_t n = path.size();
  size_t intermediates_below = 0;  // non-self-issued CAs between path[i] and the leaf
  for (size_t i = 1; i < n; ++i) {
    const long path_len = X509_get_pathlen(path[i]);
    if (path_len >= 0 && intermediates_below > static_cast<size_t>(path_len)) {
      return Fail(
          VerifyReason::kUntrustedChain,
          absl::StrCat(Describe(path[i], i, n), ": path length constraint exceeded (",
                       intermediates_below, " intermediates below pathLen ", path_len, ")"));
    }
    if (!(X509_get_extension_flags(path[i]) & EXFLAG_SI)) ++intermediates_below;
  }
  return SvidVerification();
}

// Rules 5-9 over the built path (leaf first, anchor last).
SvidVerification CheckPath(const std::vector<X509*>& path, const VerifyOptions& options) {
  const size_t n = path.size();
  if (SvidVerification lengths = CheckPathLengths(path); !lengths.ok()) return lengths;
  if (SvidVerification leaf = CheckLeafRules(path[0], options.peer_role); !leaf.ok()) return leaf;
  for (size_t i = 1; i < n; ++i) {
    if (!(X509_get_extension_flags(path[i]) & EXFLAG_KUSAGE) ||
        !(X509_get_key_usage(path[i]) & KU_KEY_CERT_SIGN)) {
      return Fail(VerifyReason::kBadKeyUsage, absl::StrCat(Describe(path[i], i, n),
                                                           ": signing certificate needs keyUsage "
                                                           "with keyCertSign"));
    }
  }
  for (size_t i = 0; i < n; ++i) {
    bssl::UniquePtr<EVP_PKEY> key(X509_get_pubkey(path[i]));
    if (absl::Status s = CheckKeyStrength(key.get(), KeyPolicy::kCertificate); !s.ok()) {
      ERR_clear_error();
      return Fail(VerifyReason::kWeakKey, absl::StrCat(Describe(path[i], i, n), ": ", s.message()));
    }
  }
  for (size_t i = 0; i + 1 < n; ++i) {
    if (IsWeakSignature(X509_get_signature_nid(path[i]))) {
      return Fail(VerifyReason::kWeakSignature,
                  absl::StrCat(Describe(path[i], i, n), ": signed with ",
                               OBJ_nid2sn(X509_get_signature_nid(path[i]))));
    }
  }
  for (size_t i = 0; i < n; ++i) {
    const absl::Time not_before = NotBefore(path[i]);
    const absl::Time not_after = NotAfter(path[i]);
    if (options.now + options.clock_skew < not_before) {
      return Fail(VerifyReason::kNotYetValid,
                  absl::StrCat(Describe(path[i], i, n), ": not valid before ",
                               TimeString(not_before), "; now ", TimeString(options.now),
                               ", allowed skew ", absl::FormatDuration(options.clock_skew)));
    }
    if (options.now - options.clock_skew > not_after) {
      return Fail(VerifyReason::kExpired,
                  absl::StrCat(Describe(path[i], i, n), ": expired at ", TimeString(not_after),
                               "; now ", TimeString(options.now), ", allowed skew ",
                               absl::FormatDuration(options.clock_skew)));
    }
  }
  return SvidVerification();
}

}  // namespace

SvidVerification VerifySvidChain(absl::Span<X509* const> chain, const TrustBundleSet& bundles,
                                 const VerifyOptions& options) {
  if (chain.empty()) return Fail(VerifyReason::kNoCertificate, "peer sent no certificate");
  if (chain.size() > kMaxPeerChainLength) {
    return Fail(VerifyReason::kUntrustedChain,
                absl::StrCat("peer sent ", chain.size(), " certificates; at most ",
                             kMaxPeerChainLength, " are accepted"));
  }
  for (size_t i = 0; i < chain.size(); ++i) {
    if (chain[i] == nullptr) {
      return Fail(VerifyReason::kMalformedCertificate, absl::StrCat("certificate ", i, " is null"));
    }
  }
  X509* leaf = chain[0];
  if (X509_get_extension_flags(leaf) & EXFLAG_INVALID) {
    ERR_clear_error();
    return Fail(VerifyReason::kMalformedCertificate, "leaf has malformed extensions");
  }

  absl::StatusOr<SpiffeId> id = SpiffeIdOf(leaf);
  if (!id.ok()) return Fail(VerifyReason::kBadSpiffeId, std::string(id.status().message()));
  if (absl::Status s = ValidateWorkloadId(*id); !s.ok()) {
    return Fail(VerifyReason::kBadSpiffeId, absl::StrCat("leaf ", s.message()));
  }
  const std::string& trust_domain = id->trust_domain();
  if (!options.expected_trust_domain.empty() && trust_domain != options.expected_trust_domain) {
    return Fail(VerifyReason::kWrongTrustDomain,
                absl::StrCat("peer ", id->ToString(), " is not in the expected trust domain \"",
                             options.expected_trust_domain, "\""));
  }
  X509_STORE* store = bundles.StoreFor(trust_domain);
  if (store == nullptr) {
    return Fail(VerifyReason::kWrongTrustDomain,
                absl::StrCat("no trust bundle for trust domain \"", trust_domain, "\" of peer ",
                             id->ToString()));
  }

  bssl::UniquePtr<STACK_OF(X509)> untrusted(sk_X509_new_null());
  bssl::UniquePtr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  if (untrusted == nullptr || ctx == nullptr) {
    ERR_clear_error();
    return Fail(VerifyReason::kUntrustedChain, "out of memory");
  }
  for (size_t i = 1; i < chain.size(); ++i) {
    // bssl::UniquePtr<STACK_OF(X509)> frees its elements, so the stack holds its own
    // references.
    if (!bssl::PushToStack(untrusted.get(), bssl::UpRef(chain[i]))) {
      ERR_clear_error();
      return Fail(VerifyReason::kUntrustedChain, "out of memory");
    }
  }
  if (!X509_STORE_CTX_init(ctx.get(), store, leaf, untrusted.get())) {
    ERR_clear_error();
    return Fail(VerifyReason::kUntrustedChain, "X509_STORE_CTX_init failed");
  }
  // Bundles may hold non-self-signed CAs as anchors; no anchor is a leaf (the
  // bundle refuses non-CAs), so a partial chain still ends at a trusted CA.
  X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_PARTIAL_CHAIN);
  X509_STORE_CTX_set_time(ctx.get(), 0, absl::ToTimeT(options.now));
  X509_STORE_CTX_set_verify_cb(ctx.get(), IgnoreTimeErrors);
  if (X509_verify_cert(ctx.get()) != 1) {
    SvidVerification failure = ChainFailure(ctx.get(), chain, bundles.RootsFor(trust_domain));
    ERR_clear_error();
    return failure;
  }
  ERR_clear_error();

  STACK_OF(X509)* built = X509_STORE_CTX_get0_chain(ctx.get());
  std::vector<X509*> path;
  for (size_t i = 0; i < sk_X509_num(built); ++i) path.push_back(sk_X509_value(built, i));
  if (path.size() < 2) {
    return Fail(VerifyReason::kUntrustedChain, "leaf is not issued by a trust anchor");
  }
  if (SvidVerification rules = CheckPath(path, options); !rules.ok()) return rules;

  VerifiedSvid svid{*std::move(id), SerialHex(leaf), NotAfter(leaf), absl::InfiniteFuture(), ""};
  for (X509* cert : path) svid.chain_not_after = std::min(svid.chain_not_after, NotAfter(cert));
  svid.root_fingerprint = std::string(bundles.FingerprintOf(trust_domain, path.back()));
  if (svid.root_fingerprint.empty()) svid.root_fingerprint = Sha256Fingerprint(path.back());
  SvidVerification result;
  result.svid = std::move(svid);
  return result;
}

SvidVerification VerifySvidChainDer(absl::Span<const absl::string_view> der_chain,
                                    const TrustBundleSet& bundles, const VerifyOptions& options) {
  if (der_chain.empty()) return Fail(VerifyReason::kNoCertificate, "peer sent no certificate");
  if (der_chain.size() > kMaxPeerChainLength) {
    return Fail(VerifyReason::kUntrustedChain,
                absl::StrCat("peer sent ", der_chain.size(), " certificates; at most ",
                             kMaxPeerChainLength, " are accepted"));
  }
  std::vector<bssl::UniquePtr<X509>> owned;
  std::vector<X509*> chain;
  for (size_t i = 0; i < der_chain.size(); ++i) {
    absl::StatusOr<bssl::UniquePtr<X509>> cert = ParseDerCertificate(der_chain[i]);
    if (!cert.ok()) {
      return Fail(VerifyReason::kMalformedCertificate,
                  absl::StrCat("certificate ", i, ": ", cert.status().message()));
    }
    chain.push_back(cert->get());
    owned.push_back(*std::move(cert));
  }
  return VerifySvidChain(chain, bundles, options);
}

}  // namespace identity
}  // namespace palisade
