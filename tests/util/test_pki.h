// Test PKI: roots, intermediates and leaves (X.509-SVIDs) for tests, valid or with
// any single defect, in memory or written as PEM files for real processes
// (palisade-proxy, openssl s_client, haproxy...).
//
// Typical use:
//   palisade::testing::TestPki pki({.trust_domain = "example.org", .now = now});
//   Credential leaf = pki.IssueLeaf("/ns/shop/sa/cart");        // valid SVID
//   CertSpec spec = pki.LeafSpec("/ns/shop/sa/cart");
//   spec.digest = Digest::kSha1;                                 // one defect
//   Credential bad = pki.IssueLeaf(spec);
//   std::vector<X509*> chain = pki.Chain(bad);                   // leaf, intermediate
//   pki.WriteFiles(dir, "cart", leaf);   // dir/cart.pem, dir/cart.key, dir/bundle.pem
//
// Lower level: start from RootSpec/IntermediateSpec/LeafSpec, change fields, and
// Issue(spec, &issuer) (or Issue(spec, nullptr) for self-signed). Nothing is
// validated: a spec may carry bad SPIFFE IDs, raw URIs, CA:true leaves, SHA-1...
//
// Failures of BoringSSL or of the file system abort the test binary with a
// message (these helpers are for tests; a failure there is a bug or a full disk).
// Not thread-safe across one TestPki; separate instances are independent.
#ifndef PALISADE_TESTS_UTIL_TEST_PKI_H_
#define PALISADE_TESTS_UTIL_TEST_PKI_H_

#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/x509.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "identity/certificate_builder.h"

namespace palisade {
namespace testing {

enum class KeyType { kEcP256, kEcP384, kEcP521, kEcP224, kRsa1024, kRsa2048, kEd25519 };
// MD5 needs an RSA issuer key (there is no ECDSA-with-MD5).
enum class Digest { kSha256, kSha384, kSha1, kMd5 };

// A fresh key of `type`. RSA generation is slow (about 0.1-1 s for 2048 bits).
bssl::UniquePtr<EVP_PKEY> GenerateKey(KeyType type);

// A certificate and its private key.
struct Credential {
  bssl::UniquePtr<X509> cert;
  bssl::UniquePtr<EVP_PKEY> key;
  X509* x509() const { return cert.get(); }
};

enum class BasicConstraints { kAbsent, kNotCa, kCa };

// Every field of one certificate. Times default to unset: the *Spec functions fill
// them. Re-using `key` (not owned) lets two certificates share a key pair.
struct CertSpec {
  std::vector<std::pair<std::string, std::string>> subject = {{"O", "Palisade test"}};
  absl::Time not_before = absl::InfinitePast();
  absl::Time not_after = absl::InfinitePast();
  KeyType key_type = KeyType::kEcP256;
  EVP_PKEY* key = nullptr;  // if set, used instead of generating a key_type key
  Digest digest = Digest::kSha256;
  BasicConstraints basic_constraints = BasicConstraints::kNotCa;
  bool basic_constraints_critical = true;
  int path_len = -1;  // CA only; < 0 = no pathLen
  // identity::KeyUsageBit flags; nullopt = no keyUsage extension.
  std::optional<uint32_t> key_usage = identity::kDigitalSignature;
  bool key_usage_critical = true;
  // EKU NIDs (NID_server_auth, NID_client_auth, NID_code_sign...); nullopt = no EKU.
  std::optional<std::vector<int>> extended_key_usage =
      std::vector<int>{NID_server_auth, NID_client_auth};
  std::vector<std::string> uri_sans;  // raw: "spiffe://td/x", "https://x", anything
  std::vector<std::string> dns_sans;
  bool san_critical = false;
  bool duplicate_san_extension = false;          // a second SAN extension with the same names
  std::vector<std::string> permitted_uri_hosts;  // URI nameConstraints; empty = none
  bool subject_key_id = true;
  bool authority_key_id = true;
  bool unknown_critical_extension = false;
};

// A valid root CA for `trust_domain`: self-signed, CA:true, keyCertSign+cRLSign,
// URI SAN "spiffe://<trust_domain>", valid from now - 1h to now + 365 days.
CertSpec RootSpec(absl::string_view trust_domain, absl::Time now);
// A valid intermediate CA: as RootSpec, valid from now - 1h to now + 30 days.
CertSpec IntermediateSpec(absl::string_view trust_domain, absl::Time now);
// A valid X.509-SVID leaf for `spiffe_id` (written as given, even if invalid):
// CA:false, digitalSignature (critical), EKU serverAuth+clientAuth, valid from
// now - 5 min to now + 1 h.
CertSpec LeafSpec(absl::string_view spiffe_id, absl::Time now);

// Issues `spec`, signed by `issuer` (nullptr: self-signed with its own key).
Credential Issue(const CertSpec& spec, const Credential* issuer);

// One trust domain's hierarchy: a root and (by default) an intermediate that issues
// the leaves.
class TestPki {
 public:
  struct Options {
    std::string trust_domain = "example.org";
    absl::Time now = absl::Now();
    bool with_intermediate = true;
    bool name_constrained = false;  // URI nameConstraints on the root: trust domain only
    KeyType ca_key_type = KeyType::kEcP256;
  };
  TestPki();
  explicit TestPki(const Options& options);
  TestPki(TestPki&&) = default;
  TestPki& operator=(TestPki&&) = default;

  const std::string& trust_domain() const { return options_.trust_domain; }
  absl::Time now() const { return options_.now; }
  const Credential& root() const { return root_; }
  bool has_intermediate() const { return intermediate_.cert != nullptr; }
  const Credential& intermediate() const;  // aborts when there is none
  // The CA that signs leaves: the intermediate, or the root without one.
  const Credential& issuer() const { return has_intermediate() ? intermediate_ : root_; }

  // LeafSpec for "spiffe://<trust domain><path>" ("" or "/a/b") at now().
  CertSpec LeafSpec(absl::string_view path) const;
  Credential IssueLeaf(absl::string_view path) const;
  Credential IssueLeaf(const CertSpec& spec) const;

  // What a peer sends: the leaf, then the intermediate if there is one.
  std::vector<X509*> Chain(const Credential& leaf) const;
  std::string ChainPem(const Credential& leaf) const;
  std::string KeyPem(const Credential& leaf) const;
  std::string BundlePem() const;  // the root

  // Writes <dir>/<name>.pem (chain), <dir>/<name>.key (PKCS#8) and
  // <dir>/bundle.pem (the root). Returns the chain file's path.
  std::string WriteFiles(absl::string_view dir, absl::string_view name,
                         const Credential& leaf) const;

 private:
  Options options_;
  Credential root_;
  Credential intermediate_;
};

// Every field of one PKCS#10 CSR, for tests of CSR checking.
struct CsrSpec {
  std::vector<std::string> uri_sans;  // raw; none (and no DNS) = no extension request
  std::vector<std::string> dns_sans;
  Digest digest = Digest::kSha256;
  bool duplicate_san_extension = false;
  bool corrupt_signature = false;  // flips a bit of the signature
};
// A DER CSR for `key` (signed by it) as `spec` describes.
std::string MakeCsrDer(const CsrSpec& spec, EVP_PKEY* key);

// A PEM CRL signed by `issuer`, listing `revoked` (their serials), issued
// at `now` - 1 min and next updated at `now` + `next_update`.
std::string CrlPem(const Credential& issuer, absl::Span<X509* const> revoked, absl::Time now,
                   absl::Duration next_update = absl::Hours(24 * 7));

// Writes `contents` to `path` (replacing it) or aborts.
void WriteFileOrDie(absl::string_view path, absl::string_view contents);
// PEM of `certs` in order.
std::string PemOf(absl::Span<X509* const> certs);
// PKCS#8 PEM of `key`.
std::string PemOf(EVP_PKEY* key);

}  // namespace testing
}  // namespace palisade

#endif  // PALISADE_TESTS_UTIL_TEST_PKI_H_
