#include "identity/gateway_trust.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "identity/certificate.h"
#include "tests/util/status_matchers.h"
#include "tests/util/test_pki.h"

namespace palisade {
namespace identity {
namespace {

using ::palisade::testing::CertSpec;
using ::palisade::testing::Credential;
using ::palisade::testing::StatusIs;
using ::palisade::testing::TestPki;
using ::testing::HasSubstr;

// A device CA (no intermediate) and its DNS-SAN client certificates.
class GatewayTrustTest : public ::testing::Test {
 protected:
  GatewayTrustTest()
      : devices_({.trust_domain = "devices", .now = absl::Now(), .with_intermediate = false}),
        mesh_({.trust_domain = "cluster.local", .now = absl::Now()}) {}

  CertSpec DeviceSpec(const std::string& dns) {
    CertSpec spec = devices_.LeafSpec("");
    spec.uri_sans.clear();
    spec.dns_sans = {dns};
    spec.subject = {{"O", "Example"}, {"OU", "sensors"}, {"CN", "sensor"}};
    spec.extended_key_usage = std::vector<int>{NID_client_auth};
    return spec;
  }

  std::shared_ptr<const GatewayTrust> Trust(std::vector<X509*> revoked = {}, bool crl = false) {
    std::vector<bssl::UniquePtr<X509>> roots;
    roots.push_back(bssl::UpRef(devices_.root().cert));
    std::vector<bssl::UniquePtr<X509_CRL>> crls;
    if (crl) {
      auto parsed = ParsePemCrls(testing::CrlPem(devices_.root(), revoked, devices_.now()));
      EXPECT_TRUE(parsed.ok()) << parsed.status();
      crls = *std::move(parsed);
    }
    auto trust = GatewayTrust::Create(std::move(roots), std::move(crls));
    EXPECT_TRUE(trust.ok()) << trust.status();
    return *trust;
  }

  ClientVerification Verify(const GatewayTrust& trust, const Credential& leaf,
                            IdentityFrom from = IdentityFrom::kDnsSan) {
    return trust.Verify(devices_.Chain(leaf), {absl::Now(), absl::ZeroDuration(), from});
  }

  TestPki devices_;
  TestPki mesh_;
};

TEST_F(GatewayTrustTest, NamesADnsSanClientByItsLowercasedDnsName) {
  Credential leaf = devices_.IssueLeaf(DeviceSpec("Sensor-1.Devices.Example.com"));
  ClientVerification v = Verify(*Trust(), leaf);
  ASSERT_TRUE(v.ok()) << v.reason << ": " << v.detail;
  EXPECT_EQ(v.client->identity, "sensor-1.devices.example.com");
  EXPECT_EQ(v.client->subject, "CN=sensor,OU=sensors,O=Example");
  EXPECT_EQ(v.client->leaf_serial, SerialHex(leaf.x509()));
  EXPECT_EQ(v.client->root_fingerprint, Sha256Fingerprint(devices_.root().x509()));
}

TEST_F(GatewayTrustTest, TakesTheIdentityFromTheConfiguredField) {
  CertSpec spec = DeviceSpec("a.example.com");
  spec.uri_sans = {"urn:device:42"};
  Credential leaf = devices_.IssueLeaf(spec);
  EXPECT_EQ(Verify(*Trust(), leaf, IdentityFrom::kUriSan).client->identity, "urn:device:42");
  EXPECT_EQ(Verify(*Trust(), leaf, IdentityFrom::kSubjectCn).client->identity, "sensor");
  ClientVerification none = Verify(*Trust(), leaf, IdentityFrom::kEmailSan);
  EXPECT_EQ(none.reason, VerifyReason::kNoClientIdentity);
  EXPECT_THAT(none.detail, HasSubstr("no email_san"));
}

TEST_F(GatewayTrustTest, RefusesAMeshSvidWhoseCaIsNotInTheStore) {
  Credential svid = mesh_.IssueLeaf("/ns/shop/sa/cart");
  ClientVerification v =
      Trust()->Verify(mesh_.Chain(svid), {absl::Now(), {}, IdentityFrom::kUriSan});
  EXPECT_EQ(v.reason, VerifyReason::kUntrustedChain) << v.detail;
}

TEST_F(GatewayTrustTest, RefusesARevokedCertificateWithItsOwnReason) {
  Credential revoked = devices_.IssueLeaf(DeviceSpec("old.devices.example.com"));
  Credential good = devices_.IssueLeaf(DeviceSpec("new.devices.example.com"));
  auto trust = Trust({revoked.x509()}, /*crl=*/true);
  EXPECT_EQ(trust->crl_count(), 1u);
  ClientVerification v = Verify(*trust, revoked);
  EXPECT_EQ(v.reason, VerifyReason::kCertificateRevoked) << v.detail;
  EXPECT_TRUE(Verify(*trust, good).ok());
}

TEST_F(GatewayTrustTest, RefusesWhenAnIssuerHasNoCurrentCrl) {
  // A CRL of another CA: the device CA's own is missing.
  TestPki other({.trust_domain = "other", .with_intermediate = false});
  std::vector<bssl::UniquePtr<X509>> roots;
  roots.push_back(bssl::UpRef(devices_.root().cert));
  auto crls = *ParsePemCrls(testing::CrlPem(other.root(), {}, absl::Now()));
  auto trust = *GatewayTrust::Create(std::move(roots), std::move(crls));
  ClientVerification v = Verify(*trust, devices_.IssueLeaf(DeviceSpec("a.example.com")));
  EXPECT_EQ(v.reason, VerifyReason::kCrlUnavailable) << v.detail;
}

TEST_F(GatewayTrustTest, RefusesALeafWithoutClientAuthOrDigitalSignature) {
  CertSpec server_only = DeviceSpec("a.example.com");
  server_only.extended_key_usage = std::vector<int>{NID_server_auth};
  EXPECT_EQ(Verify(*Trust(), devices_.IssueLeaf(server_only)).reason, VerifyReason::kBadKeyUsage);
  CertSpec no_signature = DeviceSpec("a.example.com");
  no_signature.key_usage = kKeyEncipherment;
  EXPECT_EQ(Verify(*Trust(), devices_.IssueLeaf(no_signature)).reason, VerifyReason::kBadKeyUsage);
}

TEST_F(GatewayTrustTest, RefusesExpiredAndCaLeaves) {
  CertSpec old = DeviceSpec("a.example.com");
  old.not_before = absl::Now() - absl::Hours(48);
  old.not_after = absl::Now() - absl::Hours(24);
  EXPECT_EQ(Verify(*Trust(), devices_.IssueLeaf(old)).reason, VerifyReason::kExpired);
  CertSpec ca = DeviceSpec("a.example.com");
  ca.basic_constraints = testing::BasicConstraints::kCa;
  EXPECT_EQ(Verify(*Trust(), devices_.IssueLeaf(ca)).reason, VerifyReason::kLeafIsCa);
}

TEST_F(GatewayTrustTest, RefusesANonCaTrustStoreEntryAndCorruptCrls) {
  std::vector<bssl::UniquePtr<X509>> roots;
  roots.push_back(bssl::UpRef(devices_.IssueLeaf(DeviceSpec("a.example.com")).cert));
  EXPECT_THAT(GatewayTrust::Create(std::move(roots), {}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not a CA")));
  EXPECT_THAT(ParsePemCrls("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not parse")));
  EXPECT_THAT(ParsePemCrls("nothing here").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no X509 CRL")));
}

TEST(IdentityFromTest, ParsesTheFourNamesAndRefusesOthers) {
  EXPECT_EQ(*ParseIdentityFrom(""), IdentityFrom::kDnsSan);
  EXPECT_EQ(*ParseIdentityFrom("subject_cn"), IdentityFrom::kSubjectCn);
  EXPECT_THAT(ParseIdentityFrom("cn").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("uri_san, dns_san")));
}

}  // namespace
}  // namespace identity
}  // namespace palisade
