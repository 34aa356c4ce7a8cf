#include "identity/spiffe_bundle.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "identity/certificate.h"
#include "tests/util/status_matchers.h"
#include "tests/util/test_pki.h"

namespace palisade {
namespace identity {
namespace {

using ::palisade::testing::BasicConstraints;
using ::palisade::testing::CertSpec;
using ::palisade::testing::Credential;
using ::palisade::testing::KeyType;
using ::palisade::testing::StatusIs;
using ::palisade::testing::TestPki;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1700000000);
constexpr char kTd[] = "example.org";

Credential Root(KeyType type) {
  CertSpec spec = ::palisade::testing::RootSpec(kTd, kNow);
  spec.key_type = type;
  return ::palisade::testing::Issue(spec, nullptr);
}

class SpiffeBundleTest : public ::testing::Test {
 protected:
  // A valid document with one EC P-256 authority, as a JSON value to break.
  nlohmann::json Document() const {
    SpiffeBundle bundle;
    bundle.trust_domain = kTd;
    bundle.x509_authorities.push_back(bssl::UpRef(pki_.root().cert));
    bundle.sequence = 7;
    bundle.refresh_hint = absl::Minutes(5);
    return nlohmann::json::parse(SerializeSpiffeBundle(bundle));
  }
  absl::Status ParseError(const nlohmann::json& doc) const {
    return ParseSpiffeBundle(doc.dump(), kTd).status();
  }

  TestPki pki_{{.trust_domain = kTd, .now = kNow}};
};

TEST_F(SpiffeBundleTest, RoundTripsEcAndRsaAuthoritiesWithSequenceAndHint) {
  Credential p384 = Root(KeyType::kEcP384);
  Credential rsa = Root(KeyType::kRsa2048);
  SpiffeBundle bundle;
  bundle.trust_domain = kTd;
  bundle.x509_authorities.push_back(bssl::UpRef(pki_.root().cert));
  bundle.x509_authorities.push_back(bssl::UpRef(p384.cert));
  bundle.x509_authorities.push_back(bssl::UpRef(rsa.cert));
  bundle.sequence = 18446744073709551615u;
  bundle.refresh_hint = absl::Seconds(300);
  const std::string json = SerializeSpiffeBundle(bundle);

  ASSERT_OK_AND_ASSIGN(SpiffeBundle parsed, ParseSpiffeBundle(json, kTd));
  EXPECT_EQ(parsed.trust_domain, kTd);
  ASSERT_EQ(parsed.x509_authorities.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(X509_cmp(parsed.x509_authorities[i].get(), bundle.x509_authorities[i].get()), 0);
  }
  EXPECT_EQ(parsed.sequence, bundle.sequence);
  EXPECT_EQ(parsed.refresh_hint, absl::Seconds(300));
  // Deterministic: the same bundle serializes to the same bytes.
  EXPECT_EQ(SerializeSpiffeBundle(parsed), json);
}

TEST_F(SpiffeBundleTest, SerializesKeyParametersAsTheSpecificationShows) {
  Credential rsa = Root(KeyType::kRsa2048);
  SpiffeBundle bundle;
  bundle.x509_authorities.push_back(bssl::UpRef(pki_.root().cert));
  bundle.x509_authorities.push_back(bssl::UpRef(rsa.cert));
  const nlohmann::json doc = nlohmann::json::parse(SerializeSpiffeBundle(bundle));
  EXPECT_FALSE(doc.contains("spiffe_sequence"));
  EXPECT_FALSE(doc.contains("spiffe_refresh_hint"));
  const nlohmann::json& ec = doc["keys"][0];
  EXPECT_EQ(ec["use"], "x509-svid");
  EXPECT_EQ(ec["kty"], "EC");
  EXPECT_EQ(ec["crv"], "P-256");
  EXPECT_EQ(ec["x"].get<std::string>().size(), 43u);  // 32 bytes, base64url unpadded
  EXPECT_EQ(ec["y"].get<std::string>().size(), 43u);
  std::string der;
  ASSERT_TRUE(absl::Base64Unescape(ec["x5c"][0].get<std::string>(), &der));
  EXPECT_EQ(der, CertificateToDer(pki_.root().x509()));
  const nlohmann::json& r = doc["keys"][1];
  EXPECT_EQ(r["kty"], "RSA");
  EXPECT_EQ(r["e"], "AQAB");
  EXPECT_EQ(r["n"].get<std::string>().size(), 342u);  // 256 bytes
}

TEST_F(SpiffeBundleTest, AcceptsTheMinimalDocumentWithoutSequenceOrHint) {
  nlohmann::json doc = Document();
  doc.erase("spiffe_sequence");
  doc.erase("spiffe_refresh_hint");
  ASSERT_OK_AND_ASSIGN(SpiffeBundle parsed, ParseSpiffeBundle(doc.dump(), kTd));
  EXPECT_FALSE(parsed.sequence.has_value());
  EXPECT_FALSE(parsed.refresh_hint.has_value());
  EXPECT_EQ(parsed.x509_authorities.size(), 1u);
}

TEST_F(SpiffeBundleTest, RefusesDocumentsThatAreNotABundle) {
  EXPECT_THAT(ParseSpiffeBundle("{\"keys\": [", kTd),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not valid JSON")));
  EXPECT_THAT(ParseSpiffeBundle("", kTd), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseSpiffeBundle("[]", kTd),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("must be a JSON object")));
  EXPECT_THAT(ParseSpiffeBundle("{}", kTd),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"keys\" array")));
  EXPECT_THAT(ParseSpiffeBundle(R"({"keys": {}})", kTd),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"keys\" array")));
  EXPECT_THAT(ParseSpiffeBundle(R"({"keys": []})", kTd),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("at least one X.509 authority is required")));
}

TEST_F(SpiffeBundleTest, RefusesAnInvalidTrustDomain) {
  EXPECT_THAT(ParseSpiffeBundle(Document().dump(), "Example.ORG"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseSpiffeBundle(Document().dump(), ""),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(SpiffeBundleTest, RefusesDocumentsOverTheSizeCap) {
  nlohmann::json doc = Document();
  doc["padding"] = std::string(kMaxSpiffeBundleSize, 'a');
  EXPECT_THAT(ParseError(doc),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exceeds the limit")));
}

TEST_F(SpiffeBundleTest, NamesTheKeyIndexAndRuleForX5cCount) {
  nlohmann::json doc = Document();
  nlohmann::json second = doc["keys"][0];
  second["x5c"].push_back(second["x5c"][0]);
  doc["keys"].push_back(second);
  EXPECT_THAT(ParseError(doc),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "keys[1]: x509-svid key must carry exactly one certificate in x5c"));
  doc["keys"][1]["x5c"] = nlohmann::json::array();
  EXPECT_THAT(ParseError(doc), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("keys[1]: x509-svid key must carry exactly")));
  doc["keys"][1].erase("x5c");
  EXPECT_THAT(ParseError(doc), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("keys[1]: x509-svid key must carry exactly")));
}

TEST_F(SpiffeBundleTest, RefusesBadCertificateEncodings) {
  nlohmann::json doc = Document();
  const std::string good = doc["keys"][0]["x5c"][0];
  doc["keys"][0]["x5c"][0] = absl::WebSafeBase64Escape(CertificateToDer(pki_.root().x509()));
  EXPECT_THAT(ParseError(doc), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("keys[0]: x5c[0] is not standard base64")));
  doc["keys"][0]["x5c"][0] = "%%%%";
  EXPECT_THAT(ParseError(doc), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("keys[0]: x5c[0] is not standard base64")));
  doc["keys"][0]["x5c"][0] = absl::Base64Escape("not a certificate");
  EXPECT_THAT(ParseError(doc),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("keys[0]: x5c[0]: ")));
  doc["keys"][0]["x5c"][0] = absl::Base64Escape(CertificateToDer(pki_.root().x509()) + "x");
  EXPECT_THAT(ParseError(doc),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("trailing bytes")));
  doc["keys"][0]["x5c"][0] = 5;
  EXPECT_THAT(ParseError(doc),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("must be a string")));
}

TEST_F(SpiffeBundleTest, RefusesAuthoritiesThatAreNotCas) {
  Credential leaf = pki_.IssueLeaf("/workload");
  SpiffeBundle bundle;
  bundle.x509_authorities.push_back(bssl::UpRef(pki_.root().cert));
  bundle.x509_authorities.push_back(bssl::UpRef(leaf.cert));
  EXPECT_THAT(ParseSpiffeBundle(SerializeSpiffeBundle(bundle), kTd),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("keys[1]: x5c[0] certificate "
                                                                     "is not a CA")));
  CertSpec no_bc = ::palisade::testing::RootSpec(kTd, kNow);
  no_bc.basic_constraints = BasicConstraints::kAbsent;
  Credential not_ca = ::palisade::testing::Issue(no_bc, nullptr);
  bundle.x509_authorities[1] = bssl::UpRef(not_ca.cert);
  EXPECT_THAT(ParseSpiffeBundle(SerializeSpiffeBundle(bundle), kTd),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not a CA")));
}

TEST_F(SpiffeBundleTest, ChecksKtyAndKeyParametersAgainstTheCertificate) {
  nlohmann::json doc = Document();
  doc["keys"][0]["kty"] = "RSA";
  EXPECT_THAT(ParseError(doc), StatusIs(absl::StatusCode::kInvalidArgument,
                                        "keys[0]: kty \"RSA\" does not match the x5c "
                                        "certificate's key (EC)"));
  doc = Document();
  doc["keys"][0].erase("kty");
  EXPECT_THAT(ParseError(doc),
              StatusIs(absl::StatusCode::kInvalidArgument, "keys[0]: kty is required"));
  doc = Document();
  doc["keys"][0].erase("y");
  EXPECT_THAT(ParseError(doc), StatusIs(absl::StatusCode::kInvalidArgument,
                                        "keys[0]: y is required for kty \"EC\""));
  // Parameters of another key: the JWK and its certificate disagree.
  const nlohmann::json other = nlohmann::json::parse(SerializeSpiffeBundle(
      ParseSpiffeBundle(Document().dump(), kTd).value()));  // same root, same x
  doc = Document();
  SpiffeBundle foreign;
  foreign.x509_authorities.push_back(bssl::UpRef(Root(KeyType::kEcP256).cert));
  doc["keys"][0]["x"] = nlohmann::json::parse(SerializeSpiffeBundle(foreign))["keys"][0]["x"];
  EXPECT_EQ(other["keys"][0]["x"], Document()["keys"][0]["x"]);
  EXPECT_THAT(ParseError(doc),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "keys[0]: x does not match the x5c certificate's public key"));
  doc = Document();
  doc["keys"][0]["crv"] = "P-384";
  EXPECT_THAT(ParseError(doc), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("keys[0]: crv does not match")));
}

TEST_F(SpiffeBundleTest, RefusesKeyTypesWithoutAJwkForm) {
  SpiffeBundle bundle;
  bundle.x509_authorities.push_back(bssl::UpRef(Root(KeyType::kEd25519).cert));
  EXPECT_THAT(ParseSpiffeBundle(SerializeSpiffeBundle(bundle), kTd),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("keys[0]: x5c[0] certificate "
                                                                     "key is not EC")));
}

TEST_F(SpiffeBundleTest, KeepsADuplicatedAuthorityOnce) {
  nlohmann::json doc = Document();
  doc["keys"].push_back(doc["keys"][0]);
  ASSERT_OK_AND_ASSIGN(SpiffeBundle parsed, ParseSpiffeBundle(doc.dump(), kTd));
  EXPECT_EQ(parsed.x509_authorities.size(), 1u);
}

TEST_F(SpiffeBundleTest, IgnoresJwtAndUnknownUsesButRequiresUse) {
  nlohmann::json doc = Document();
  doc["keys"].push_back({{"use", "jwt-svid"}, {"kty", "EC"}, {"kid", "k1"}, {"crv", "P-256"}});
  doc["keys"].push_back({{"use", "something-new"}, {"kty", "OKP"}});
  ASSERT_OK_AND_ASSIGN(SpiffeBundle parsed, ParseSpiffeBundle(doc.dump(), kTd));
  EXPECT_EQ(parsed.x509_authorities.size(), 1u);

  nlohmann::json only_jwt =
      nlohmann::json::parse(R"({"keys": [{"use": "jwt-svid", "kty": "EC"}]})");
  EXPECT_THAT(ParseError(only_jwt),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no x509-svid key")));
  doc["keys"].push_back({{"kty", "EC"}});
  EXPECT_THAT(ParseError(doc),
              StatusIs(absl::StatusCode::kInvalidArgument, "keys[3]: use is required"));
  doc["keys"][3] = "x509-svid";
  EXPECT_THAT(ParseError(doc),
              StatusIs(absl::StatusCode::kInvalidArgument, "keys[3]: key must be a JSON object"));
}

TEST_F(SpiffeBundleTest, ChecksSequenceAndRefreshHint) {
  for (const nlohmann::json& bad :
       {nlohmann::json(-1), nlohmann::json(1.5), nlohmann::json("7"), nlohmann::json(nullptr)}) {
    nlohmann::json doc = Document();
    doc["spiffe_sequence"] = bad;
    EXPECT_THAT(ParseError(doc), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("spiffe_sequence must be an unsigned")))
        << bad;
  }
  EXPECT_THAT(ParseSpiffeBundle(R"({"keys": [], "spiffe_sequence": 18446744073709551616})", kTd),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("spiffe_sequence")));
  for (const nlohmann::json& bad : {nlohmann::json(300.5), nlohmann::json("5m")}) {
    nlohmann::json doc = Document();
    doc["spiffe_refresh_hint"] = bad;
    EXPECT_THAT(ParseError(doc), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("spiffe_refresh_hint must be an integer")));
  }
  nlohmann::json doc = Document();
  doc["spiffe_refresh_hint"] = -1;
  EXPECT_THAT(ParseError(doc), StatusIs(absl::StatusCode::kInvalidArgument,
                                        "spiffe_refresh_hint must not be negative"));
  doc["spiffe_refresh_hint"] = absl::ToInt64Seconds(kMaxSpiffeRefreshHint) + 1;
  EXPECT_THAT(ParseError(doc),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exceeds the limit")));
  doc["spiffe_refresh_hint"] = 0;
  ASSERT_OK_AND_ASSIGN(SpiffeBundle parsed, ParseSpiffeBundle(doc.dump(), kTd));
  EXPECT_EQ(parsed.refresh_hint, absl::ZeroDuration());
}

}  // namespace
}  // namespace identity
}  // namespace palisade
