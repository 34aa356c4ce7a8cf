#include "identity/gateway_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/util/status_matchers.h"

namespace palisade {
namespace identity {
namespace {

using ::palisade::testing::StatusIs;
using ::testing::HasSubstr;

VerifiedClient Client(std::string identity, std::string subject = "CN=x,O=Other") {
  VerifiedClient c;
  c.identity = std::move(identity);
  c.subject = std::move(subject);
  return c;
}

TEST(GatewayPolicyTest, AnEmptyPolicyAllowsNobody) {
  GatewayPolicy none = *GatewayPolicy::Create(IdentityFrom::kDnsSan, {}, {}, {});
  EXPECT_TRUE(none.empty());
  EXPECT_FALSE(none.Allows(Client("a.example.com")));
  EXPECT_EQ(none.Describe(), "nobody (no allow rule)");
}

TEST(GatewayPolicyTest, ExactDnsIdentitiesIgnoreCase) {
  GatewayPolicy p = *GatewayPolicy::Create(IdentityFrom::kDnsSan, {"Gate.Example.com"}, {}, {});
  EXPECT_TRUE(p.Allows(Client("gate.example.com")));
  EXPECT_FALSE(p.Allows(Client("gate.example.com.evil")));
  GatewayPolicy uri = *GatewayPolicy::Create(IdentityFrom::kUriSan, {"urn:Device:1"}, {}, {});
  EXPECT_FALSE(uri.Allows(Client("urn:device:1")));
  EXPECT_TRUE(uri.Allows(Client("urn:Device:1")));
}

TEST(GatewayPolicyTest, AWildcardCoversExactlyOneLabel) {
  GatewayPolicy p =
      *GatewayPolicy::Create(IdentityFrom::kDnsSan, {}, {"*.devices.example.com"}, {});
  EXPECT_TRUE(p.Allows(Client("sensor-1.devices.example.com")));
  EXPECT_TRUE(p.Allows(Client("SENSOR-1.Devices.Example.com")));
  EXPECT_FALSE(p.Allows(Client("devices.example.com")));
  EXPECT_FALSE(p.Allows(Client(".devices.example.com")));
  EXPECT_FALSE(p.Allows(Client("a.b.devices.example.com")));
  EXPECT_FALSE(p.Allows(Client("sensor-1.devices.example.com.evil.net")));
  EXPECT_FALSE(p.Allows(Client("xdevices.example.com")));
}

TEST(GatewayPolicyTest, SubjectPatternsMatchExactlyOrByTrailingRdns) {
  GatewayPolicy p = *GatewayPolicy::Create(IdentityFrom::kSubjectCn, {}, {},
                                           {"CN=admin,O=Example", "*,OU=sensors,O=Example"});
  EXPECT_TRUE(p.Allows(Client("admin", "CN=admin,O=Example")));
  EXPECT_FALSE(p.Allows(Client("admin", "CN=admin,O=Example,C=US")));
  EXPECT_TRUE(p.Allows(Client("s1", "CN=s1,OU=sensors,O=Example")));
  EXPECT_FALSE(p.Allows(Client("s1", "CN=s1,OU=xsensors,O=Example")));
  EXPECT_FALSE(p.Allows(Client("s1", "OU=sensors,O=Example")));
  // An escaped comma inside a value is not an RDN boundary.
  EXPECT_FALSE(p.Allows(Client("s1", "CN=s1\\,OU=sensors,O=Example")));
}

TEST(GatewayPolicyTest, BadEntriesAreRefusedNamingTheListAndIndex) {
  EXPECT_THAT(
      GatewayPolicy::Create(IdentityFrom::kDnsSan, {}, {"*.example.com", "*.com"}, {}).status(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("dns_wildcards[1] \"*.com\": a wildcard needs at least two")));
  EXPECT_THAT(GatewayPolicy::Create(IdentityFrom::kDnsSan, {}, {"a.*.example.com"}, {}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("must start with \"*.\"")));
  EXPECT_THAT(GatewayPolicy::Create(IdentityFrom::kDnsSan, {}, {"*.*.example.com"}, {}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("label \"*\"")));
  EXPECT_THAT(GatewayPolicy::Create(IdentityFrom::kDnsSan, {}, {}, {"sensor"}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("subjects[0]")));
  EXPECT_THAT(GatewayPolicy::Create(IdentityFrom::kDnsSan, {""}, {}, {}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("identities[0]")));
}

}  // namespace
}  // namespace identity
}  // namespace palisade
