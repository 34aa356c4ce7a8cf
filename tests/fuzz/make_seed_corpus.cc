// Writes the seed corpora of the fuzz targets into <dir>/{chain_verify,pem_bundle,
// csr,spiffe_bundle}. The committed corpora under tests/fuzz/corpus were made with
//   bazel run //tests/fuzz:make_seed_corpus -- $PWD/tests/fuzz/corpus
// (keys are random, so a re-run writes different but equivalent seeds). Each seed
// is one valid input or one input with a single defect, issued at 1700000000
// (2023-11-14), the instant the chain fuzzer verifies at.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "identity/certificate.h"
#include "identity/csr.h"
#include "identity/keys.h"
#include "identity/spiffe_bundle.h"
#include "tests/fuzz/chain_input.h"
#include "tests/util/subprocess.h"
#include "tests/util/test_pki.h"

namespace palisade {
namespace {

using testing::BasicConstraints;
using testing::CertSpec;
using testing::Credential;
using testing::CsrSpec;
using testing::Digest;
using testing::KeyType;
using testing::TestPki;

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

std::string Der(X509* cert) { return identity::CertificateToDer(cert); }

// anchor, then the chain (leaf first).
std::string ChainSeed(uint8_t flags, X509* anchor, const std::vector<X509*>& chain) {
  std::vector<std::string> ders = {Der(anchor)};
  for (X509* cert : chain) ders.push_back(Der(cert));
  return fuzz::EncodeChainInput(flags, ders);
}

void WriteChainSeeds(const std::string& dir) {
  TestPki pki({.trust_domain = "example.org", .now = kNow});
  TestPki flat({.trust_domain = "example.org", .now = kNow, .with_intermediate = false});
  TestPki other({.trust_domain = "other.example", .now = kNow});
  TestPki constrained({.trust_domain = "example.org", .now = kNow, .name_constrained = true});
  auto leaf_with = [&](auto edit) {
    CertSpec spec = pki.LeafSpec("/ns/shop/sa/cart");
    edit(spec);
    return pki.IssueLeaf(spec);
  };
  auto write = [&](const std::string& name, const std::string& seed) {
    testing::WriteFileOrDie(dir + "/" + name, seed);
  };
  Credential valid = pki.IssueLeaf("/ns/shop/sa/cart");
  write("valid_three_level", ChainSeed(0, pki.root().x509(), pki.Chain(valid)));
  write("valid_as_client", ChainSeed(1, pki.root().x509(), pki.Chain(valid)));
  write("valid_as_server_with_skew", ChainSeed(2 | 4, pki.root().x509(), pki.Chain(valid)));
  Credential flat_leaf = flat.IssueLeaf("/a");
  write("valid_two_level", ChainSeed(0, flat.root().x509(), flat.Chain(flat_leaf)));
  std::vector<X509*> with_root = pki.Chain(valid);
  with_root.push_back(pki.root().x509());
  write("valid_with_root_sent", ChainSeed(0, pki.root().x509(), with_root));
  Credential expired = leaf_with([](CertSpec& s) { s.not_after = kNow - absl::Minutes(1); });
  write("expired_leaf", ChainSeed(0, pki.root().x509(), pki.Chain(expired)));
  Credential sha1 = leaf_with([](CertSpec& s) { s.digest = Digest::kSha1; });
  write("sha1_leaf", ChainSeed(0, pki.root().x509(), pki.Chain(sha1)));
  Credential ca_leaf = leaf_with([](CertSpec& s) { s.basic_constraints = BasicConstraints::kCa; });
  write("ca_leaf", ChainSeed(0, pki.root().x509(), pki.Chain(ca_leaf)));
  Credential no_san = leaf_with([](CertSpec& s) { s.uri_sans.clear(); });
  write("no_uri_san", ChainSeed(0, pki.root().x509(), pki.Chain(no_san)));
  Credential two_sans =
      leaf_with([](CertSpec& s) { s.uri_sans.push_back("spiffe://example.org/b"); });
  write("two_uri_sans", ChainSeed(0, pki.root().x509(), pki.Chain(two_sans)));
  Credential rsa = leaf_with([](CertSpec& s) { s.key_type = KeyType::kRsa1024; });
  write("rsa1024_leaf", ChainSeed(0, pki.root().x509(), pki.Chain(rsa)));
  Credential server_only =
      leaf_with([](CertSpec& s) { s.extended_key_usage = std::vector<int>{NID_server_auth}; });
  write("server_eku_as_client", ChainSeed(1, pki.root().x509(), pki.Chain(server_only)));
  Credential foreign = other.IssueLeaf(testing::LeafSpec("spiffe://example.org/a", kNow));
  write("foreign_root", ChainSeed(0, pki.root().x509(), other.Chain(foreign)));
  Credential outside = constrained.IssueLeaf(testing::LeafSpec("spiffe://other.example/a", kNow));
  write("name_constraint_violation",
        ChainSeed(0, constrained.root().x509(), constrained.Chain(outside)));
  CertSpec not_ca = testing::IntermediateSpec("example.org", kNow);
  not_ca.basic_constraints = BasicConstraints::kNotCa;
  Credential bad_intermediate = testing::Issue(not_ca, &pki.root());
  Credential under_bad = testing::Issue(pki.LeafSpec("/a"), &bad_intermediate);
  write("intermediate_not_ca",
        ChainSeed(0, pki.root().x509(), {under_bad.x509(), bad_intermediate.x509()}));
  write("garbage", fuzz::EncodeChainInput(0, {"\x30\x03\x02\x01\x01", "not a certificate"}));
}

void WritePemSeeds(const std::string& dir) {
  TestPki a({.trust_domain = "example.org", .now = kNow});
  TestPki b({.trust_domain = "example.org", .now = kNow});
  Credential leaf = a.IssueLeaf("/a");
  auto write = [&](const std::string& name, const std::string& seed) {
    testing::WriteFileOrDie(dir + "/" + name, seed);
  };
  write("one_root", a.BundlePem());
  write("two_roots_with_comments",
        "# example.org roots\n" + a.BundlePem() + "\n# next\n" + b.BundlePem());
  write("chain", a.ChainPem(leaf));
  write("root_and_key", a.BundlePem() + a.KeyPem(leaf));
  write("key_only", a.KeyPem(leaf));
  const std::string pem = a.BundlePem();
  write("truncated", pem.substr(0, pem.size() / 2));
  std::string bad = pem;
  bad[40] = '!';
  write("bad_base64", bad);
  write("empty_block", "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
}

void WriteCsrSeeds(const std::string& dir) {
  auto write = [&](const std::string& name, const std::string& seed) {
    testing::WriteFileOrDie(dir + "/" + name, seed);
  };
  const std::string id = "spiffe://example.org/ns/shop/sa/cart";
  bssl::UniquePtr<EVP_PKEY> p256 = testing::GenerateKey(KeyType::kEcP256);
  write("p256", *identity::CreateCsrDer(p256.get(), *identity::SpiffeId::Parse(id)));
  write("p384",
        testing::MakeCsrDer({.uri_sans = {id}}, testing::GenerateKey(KeyType::kEcP384).get()));
  write("rsa2048",
        testing::MakeCsrDer({.uri_sans = {id}}, testing::GenerateKey(KeyType::kRsa2048).get()));
  write("other_domain",
        testing::MakeCsrDer({.uri_sans = {"spiffe://other.example/a"}}, p256.get()));
  write("uri_and_dns", testing::MakeCsrDer({.uri_sans = {id}, .dns_sans = {"cart"}}, p256.get()));
  write("no_san", testing::MakeCsrDer({}, p256.get()));
  write("two_uris", testing::MakeCsrDer({.uri_sans = {id, id + "2"}}, p256.get()));
  write("sha1", testing::MakeCsrDer({.uri_sans = {id}, .digest = Digest::kSha1}, p256.get()));
  write("corrupt_signature",
        testing::MakeCsrDer({.uri_sans = {id}, .corrupt_signature = true}, p256.get()));
  write("bad_spiffe_id",
        testing::MakeCsrDer({.uri_sans = {"spiffe://example.org/a//b"}}, p256.get()));
  write("p224",
        testing::MakeCsrDer({.uri_sans = {id}}, testing::GenerateKey(KeyType::kEcP224).get()));
}

void WriteSpiffeBundleSeeds(const std::string& dir) {
  auto write = [&](const std::string& name, const std::string& seed) {
    testing::WriteFileOrDie(dir + "/" + name, seed);
  };
  TestPki a({.trust_domain = "example.org", .now = kNow});
  auto document = [](std::vector<X509*> roots) {
    identity::SpiffeBundle bundle;
    for (X509* root : roots) bundle.x509_authorities.push_back(bssl::UpRef(root));
    bundle.sequence = 3;
    bundle.refresh_hint = absl::Minutes(5);
    return nlohmann::json::parse(identity::SerializeSpiffeBundle(bundle));
  };
  write("one_root", document({a.root().x509()}).dump(2));
  CertSpec rsa_spec = testing::RootSpec("example.org", kNow);
  rsa_spec.key_type = KeyType::kRsa2048;
  const Credential rsa = testing::Issue(rsa_spec, nullptr);
  nlohmann::json two = document({a.root().x509(), rsa.x509()});
  two["keys"].push_back({{"use", "jwt-svid"}, {"kty", "EC"}, {"kid", "k1"}, {"crv", "P-256"}});
  write("ec_and_rsa_roots_and_a_jwt_key", two.dump(2));
  nlohmann::json doubled = document({a.root().x509()});
  doubled["keys"][0]["x5c"].push_back(doubled["keys"][0]["x5c"][0]);
  write("two_certificates_in_x5c", doubled.dump(2));
  write("leaf_not_ca", document({a.IssueLeaf("/a").x509()}).dump(2));
  nlohmann::json kty = document({a.root().x509()});
  kty["keys"][0]["kty"] = "RSA";
  write("kty_mismatch", kty.dump(2));
  nlohmann::json hint = document({a.root().x509()});
  hint["spiffe_refresh_hint"] = -1;
  write("negative_refresh_hint", hint.dump(2));
  write("not_json", "{\"keys\": [{\"use\": \"x509-svid\",");
}

}  // namespace
}  // namespace palisade

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
    return 2;
  }
  const std::string root = argv[1];
  for (const char* sub : {"chain_verify", "pem_bundle", "csr", "spiffe_bundle"}) {
    palisade::testing::RunCommand({"/bin/mkdir", "-p", root + "/" + sub});
  }
  palisade::WriteChainSeeds(root + "/chain_verify");
  palisade::WritePemSeeds(root + "/pem_bundle");
  palisade::WriteCsrSeeds(root + "/csr");
  palisade::WriteSpiffeBundleSeeds(root + "/spiffe_bundle");
  return 0;
}
