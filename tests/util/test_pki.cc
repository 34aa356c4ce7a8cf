#include "tests/util/test_pki.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/mem.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "identity/certificate.h"
#include "identity/keys.h"

namespace palisade {
namespace testing {
namespace {

[[noreturn]] void Die(absl::string_view what) {
  std::string errors;
  while (uint32_t err = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    absl::StrAppend(&errors, " ", buf);
  }
  std::fprintf(stderr, "test_pki: %.*s%s\n", static_cast<int>(what.size()), what.data(),
               errors.c_str());
  std::abort();
}

bssl::UniquePtr<EVP_PKEY> EcKey(int nid) {
  bssl::UniquePtr<EC_KEY> ec(EC_KEY_new_by_curve_name(nid));
  bssl::UniquePtr<EVP_PKEY> key(EVP_PKEY_new());
  if (ec == nullptr || key == nullptr || !EC_KEY_generate_key(ec.get()) ||
      !EVP_PKEY_assign_EC_KEY(key.get(), ec.release())) {
    Die("EC key generation failed");
  }
  return key;
}

bssl::UniquePtr<EVP_PKEY> RsaKey(int bits) {
  bssl::UniquePtr<RSA> rsa(RSA_new());
  bssl::UniquePtr<BIGNUM> e(BN_new());
  bssl::UniquePtr<EVP_PKEY> key(EVP_PKEY_new());
  if (rsa == nullptr || e == nullptr || key == nullptr || !BN_set_word(e.get(), RSA_F4) ||
      !RSA_generate_key_ex(rsa.get(), bits, e.get(), nullptr) ||
      !EVP_PKEY_assign_RSA(key.get(), rsa.release())) {
    Die("RSA key generation failed");
  }
  return key;
}

bssl::UniquePtr<EVP_PKEY> Ed25519Key() {
  bssl::UniquePtr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr));
  EVP_PKEY* key = nullptr;
  if (ctx == nullptr || !EVP_PKEY_keygen_init(ctx.get()) || !EVP_PKEY_keygen(ctx.get(), &key)) {
    Die("Ed25519 key generation failed");
  }
  return bssl::UniquePtr<EVP_PKEY>(key);
}

const EVP_MD* DigestFor(Digest digest, const EVP_PKEY* signing_key) {
  if (EVP_PKEY_id(signing_key) == EVP_PKEY_ED25519) return nullptr;
  switch (digest) {
    case Digest::kSha256:
      return EVP_sha256();
    case Digest::kSha384:
      return EVP_sha384();
    case Digest::kSha1:
      return EVP_sha1();
    case Digest::kMd5:
      return EVP_md5();
  }
  return EVP_sha256();
}

CertSpec CaSpec(absl::string_view trust_domain, absl::Time now, absl::Duration ttl,
                absl::string_view name) {
  CertSpec spec;
  spec.subject = {{"O", "Palisade test"}, {"CN", std::string(name)}};
  spec.not_before = now - absl::Hours(1);
  spec.not_after = now + ttl;
  spec.basic_constraints = BasicConstraints::kCa;
  spec.key_usage = identity::kKeyCertSign | identity::kCrlSign;
  spec.extended_key_usage = std::nullopt;
  spec.uri_sans = {absl::StrCat("spiffe://", trust_domain)};
  return spec;
}

}  // namespace

bssl::UniquePtr<EVP_PKEY> GenerateKey(KeyType type) {
  switch (type) {
    case KeyType::kEcP256:
      return EcKey(NID_X9_62_prime256v1);
    case KeyType::kEcP384:
      return EcKey(NID_secp384r1);
    case KeyType::kEcP521:
      return EcKey(NID_secp521r1);
    case KeyType::kEcP224:
      return EcKey(NID_secp224r1);
    case KeyType::kRsa1024:
      return RsaKey(1024);
    case KeyType::kRsa2048:
      return RsaKey(2048);
    case KeyType::kEd25519:
      return Ed25519Key();
  }
  Die("unknown key type");
}

CertSpec RootSpec(absl::string_view trust_domain, absl::Time now) {
  return CaSpec(trust_domain, now, absl::Hours(24 * 365), absl::StrCat(trust_domain, " root"));
}

CertSpec IntermediateSpec(absl::string_view trust_domain, absl::Time now) {
  return CaSpec(trust_domain, now, absl::Hours(24 * 30),
                absl::StrCat(trust_domain, " intermediate"));
}

CertSpec LeafSpec(absl::string_view spiffe_id, absl::Time now) {
  CertSpec spec;
  spec.not_before = now - absl::Minutes(5);
  spec.not_after = now + absl::Hours(1);
  spec.uri_sans = {std::string(spiffe_id)};
  return spec;
}

Credential Issue(const CertSpec& spec, const Credential* issuer) {
  Credential out;
  out.key = spec.key != nullptr ? bssl::UpRef(spec.key) : GenerateKey(spec.key_type);
  X509* issuer_cert = issuer != nullptr ? issuer->cert.get() : nullptr;
  EVP_PKEY* signing_key = issuer != nullptr ? issuer->key.get() : out.key.get();

  identity::CertificateBuilder builder;
  builder.SetRandomSerial().SetSubject(spec.subject);
  if (issuer_cert != nullptr) builder.SetIssuerName(issuer_cert);
  builder.SetValidity(spec.not_before, spec.not_after).SetPublicKey(out.key.get());
  if (spec.basic_constraints != BasicConstraints::kAbsent) {
    builder.AddBasicConstraints(spec.basic_constraints == BasicConstraints::kCa, spec.path_len,
                                spec.basic_constraints_critical);
  }
  if (spec.key_usage.has_value()) builder.AddKeyUsage(*spec.key_usage, spec.key_usage_critical);
  if (spec.extended_key_usage.has_value()) {
    builder.AddExtendedKeyUsage(*spec.extended_key_usage, /*critical=*/false);
  }
  if (!spec.uri_sans.empty() || !spec.dns_sans.empty()) {
    builder.AddSubjectAltNames(spec.uri_sans, spec.dns_sans, spec.san_critical);
    if (spec.duplicate_san_extension) {
      builder.AddSubjectAltNames(spec.uri_sans, spec.dns_sans, spec.san_critical,
                                 /*append=*/true);
    }
  }
  if (spec.subject_key_id) builder.AddSubjectKeyId();
  if (spec.authority_key_id) builder.AddAuthorityKeyId(issuer_cert);
  if (!spec.permitted_uri_hosts.empty()) builder.AddUriNameConstraints(spec.permitted_uri_hosts);
  if (spec.unknown_critical_extension) builder.AddPrivateExtension(/*critical=*/true);
  absl::StatusOr<bssl::UniquePtr<X509>> cert =
      builder.Sign(signing_key, DigestFor(spec.digest, signing_key));
  if (!cert.ok()) Die(cert.status().ToString());
  out.cert = *std::move(cert);
  return out;
}

TestPki::TestPki() : TestPki(Options()) {}

TestPki::TestPki(const Options& options) : options_(options) {
  CertSpec root = RootSpec(options_.trust_domain, options_.now);
  root.key_type = options_.ca_key_type;
  if (options_.name_constrained) root.permitted_uri_hosts = {options_.trust_domain};
  root_ = Issue(root, nullptr);
  if (options_.with_intermediate) {
    CertSpec intermediate = IntermediateSpec(options_.trust_domain, options_.now);
    intermediate.key_type = options_.ca_key_type;
    intermediate_ = Issue(intermediate, &root_);
  }
}

const Credential& TestPki::intermediate() const {
  if (!has_intermediate()) Die("TestPki has no intermediate");
  return intermediate_;
}

CertSpec TestPki::LeafSpec(absl::string_view path) const {
  return testing::LeafSpec(absl::StrCat("spiffe://", options_.trust_domain, path), options_.now);
}

Credential TestPki::IssueLeaf(absl::string_view path) const { return IssueLeaf(LeafSpec(path)); }

Credential TestPki::IssueLeaf(const CertSpec& spec) const { return Issue(spec, &issuer()); }

std::vector<X509*> TestPki::Chain(const Credential& leaf) const {
  std::vector<X509*> chain = {leaf.cert.get()};
  if (has_intermediate()) chain.push_back(intermediate_.cert.get());
  return chain;
}

std::string TestPki::ChainPem(const Credential& leaf) const { return PemOf(Chain(leaf)); }

std::string TestPki::KeyPem(const Credential& leaf) const { return PemOf(leaf.key.get()); }

std::string TestPki::BundlePem() const { return identity::CertificateToPem(root_.cert.get()); }

std::string TestPki::WriteFiles(absl::string_view dir, absl::string_view name,
                                const Credential& leaf) const {
  const std::string chain_path = absl::StrCat(dir, "/", name, ".pem");
  WriteFileOrDie(chain_path, ChainPem(leaf));
  WriteFileOrDie(absl::StrCat(dir, "/", name, ".key"), KeyPem(leaf));
  WriteFileOrDie(absl::StrCat(dir, "/bundle.pem"), BundlePem());
  return chain_path;
}

std::string MakeCsrDer(const CsrSpec& spec, EVP_PKEY* key) {
  bssl::UniquePtr<X509_REQ> req(X509_REQ_new());
  if (req == nullptr || !X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) ||
      !X509_REQ_set_pubkey(req.get(), key)) {
    Die("building a CSR");
  }
  if (!spec.uri_sans.empty() || !spec.dns_sans.empty()) {
    bssl::UniquePtr<GENERAL_NAMES> names(sk_GENERAL_NAME_new_null());
    auto add = [&](int type, const std::string& value) {
      bssl::UniquePtr<GENERAL_NAME> name(GENERAL_NAME_new());
      bssl::UniquePtr<ASN1_IA5STRING> ia5(ASN1_IA5STRING_new());
      if (name == nullptr || ia5 == nullptr ||
          !ASN1_STRING_set(ia5.get(), value.data(), static_cast<int>(value.size()))) {
        Die("encoding a CSR SAN");
      }
      GENERAL_NAME_set0_value(name.get(), type, ia5.release());
      if (!bssl::PushToStack(names.get(), std::move(name))) Die("encoding a CSR SAN");
    };
    for (const std::string& uri : spec.uri_sans) add(GEN_URI, uri);
    for (const std::string& dns : spec.dns_sans) add(GEN_DNS, dns);
    STACK_OF(X509_EXTENSION)* exts = nullptr;
    for (int copy = 0; copy < (spec.duplicate_san_extension ? 2 : 1); ++copy) {
      if (X509V3_add1_i2d(&exts, NID_subject_alt_name, names.get(), 0,
                          copy == 0 ? X509V3_ADD_DEFAULT : X509V3_ADD_APPEND) != 1) {
        Die("adding a CSR SAN extension");
      }
    }
    const bool added = X509_REQ_add_extensions(req.get(), exts);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    if (!added) Die("adding the CSR extension request");
  }
  if (!X509_REQ_sign(req.get(), key, DigestFor(spec.digest, key))) Die("signing a CSR");
  uint8_t* der = nullptr;
  const int len = i2d_X509_REQ(req.get(), &der);
  if (len <= 0) Die("encoding a CSR");
  std::string out(reinterpret_cast<const char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  if (spec.corrupt_signature) out.back() ^= 0x01;
  return out;
}

std::string CrlPem(const Credential& issuer, absl::Span<X509* const> revoked, absl::Time now,
                   absl::Duration next_update) {
  bssl::UniquePtr<X509_CRL> crl(X509_CRL_new());
  bssl::UniquePtr<ASN1_TIME> last(ASN1_TIME_set(nullptr, absl::ToTimeT(now - absl::Minutes(1))));
  bssl::UniquePtr<ASN1_TIME> next(ASN1_TIME_set(nullptr, absl::ToTimeT(now + next_update)));
  if (crl == nullptr || last == nullptr || next == nullptr || !X509_CRL_set_version(crl.get(), 1) ||
      !X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(issuer.x509())) ||
      !X509_CRL_set1_lastUpdate(crl.get(), last.get()) ||
      !X509_CRL_set1_nextUpdate(crl.get(), next.get())) {
    Die("building a CRL");
  }
  for (X509* cert : revoked) {
    bssl::UniquePtr<X509_REVOKED> entry(X509_REVOKED_new());
    if (entry == nullptr ||
        !X509_REVOKED_set_serialNumber(entry.get(), X509_get_serialNumber(cert)) ||
        !X509_REVOKED_set_revocationDate(entry.get(), last.get()) ||
        !X509_CRL_add0_revoked(crl.get(), entry.get())) {
      Die("adding a revoked serial to a CRL");
    }
    entry.release();  // owned by the CRL
  }
  X509_CRL_sort(crl.get());
  if (!X509_CRL_sign(crl.get(), issuer.key.get(), EVP_sha256())) Die("signing a CRL");
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || !PEM_write_bio_X509_CRL(bio.get(), crl.get())) Die("encoding a CRL");
  const uint8_t* data = nullptr;
  size_t length = 0;
  BIO_mem_contents(bio.get(), &data, &length);
  return std::string(reinterpret_cast<const char*>(data), length);
}

void WriteFileOrDie(absl::string_view path, absl::string_view contents) {
  std::ofstream out(std::string(path), std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  out.close();
  if (!out) Die(absl::StrCat("cannot write ", path));
}

std::string PemOf(absl::Span<X509* const> certs) { return identity::CertificatesToPem(certs); }

std::string PemOf(EVP_PKEY* key) {
  absl::StatusOr<std::string> pem = identity::PrivateKeyToPem(key);
  if (!pem.ok()) Die(pem.status().ToString());
  return *std::move(pem);
}

}  // namespace testing
}  // namespace palisade
