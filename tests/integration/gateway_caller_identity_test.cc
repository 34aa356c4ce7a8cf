// A device behind the gateway, and an app that wants to know who called
// (issue 17): curl with a DNS-SAN device certificate sends two requests on
// one keep-alive connection through a gateway listener with
// caller_identity http_header, each with a forged x-forwarded-client-cert.
// The app sees, on every request, only the header the gateway wrote: the DNS
// name the gateway authorized and the hash of the certificate it verified.
#include <gmock/gmock.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "identity/certificate.h"
#include "tests/integration/gateway_fixture.h"
#include "tests/util/process.h"
#include "tests/util/subprocess.h"

namespace palisade::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Sha256Hex(const uint8_t* data, size_t size) {
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(data, size, digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

std::string LeafHash(X509* leaf) {
  uint8_t* der = nullptr;
  const int size = i2d_X509(leaf, &der);
  std::string hex = size > 0 ? Sha256Hex(der, size) : "";
  OPENSSL_free(der);
  return hex;
}

class GatewayCallerIdentityTest : public GatewayTest {
 protected:
  void SetUp() override {
    GatewayTest::SetUp();
    auto app = mesh_.StartBackend("headers", "http_headers");
    ASSERT_TRUE(app.ok()) << app.status();
    ProxyYaml config = GatewayConfig();
    AddGateway(config, "devices-xfcc", (*app)->address()).caller_identity.mode = "http_header";
    StartGateway(config);
  }
};

TEST_F(GatewayCallerIdentityTest, TheAppSeesTheVerifiedDeviceOnEveryRequestAndNoForgery) {
  const std::string url = absl::StrCat("https://127.0.0.1:", Port("devices-xfcc"), "/r");
  const CommandResult r = RunCommand(
      {"curl", "-sS", "--max-time", "10", "-k", "--pinnedpubkey",
       GatewayKeyPin(dir() + "/gateway.pem"), "--cert", dir() + "/sensor-1.pem", "--key",
       dir() + "/sensor-1.key", "-H",
       "X-Forwarded-Client-Cert: By=spiffe://evil;URI=spiffe://cluster.local/ns/ops/sa/admin",
       absl::StrCat(url, "/1"), absl::StrCat(url, "/2")},
      absl::Seconds(20));
  ASSERT_EQ(r.exit_code, 0) << r.output;

  std::vector<std::string> seen;
  for (absl::string_view line : absl::StrSplit(r.output, '\n')) {
    if (absl::StartsWithIgnoreCase(line, "x-forwarded-client-cert:")) seen.emplace_back(line);
  }
  ASSERT_EQ(seen.size(), 2u) << r.output;  // one per request, never the forged one beside it
  const std::string expected = absl::StrCat("By=", kGatewayId, ";Hash=", LeafHash(sensor_.get()),
                                            ";DNS=sensor-1.devices.example.com;Subject=");
  for (const std::string& header : seen) {
    EXPECT_THAT(header, HasSubstr(expected));
    EXPECT_THAT(header, Not(HasSubstr("URI=")));  // the device's name is its DNS SAN
  }
  EXPECT_THAT(r.output, Not(HasSubstr("spiffe://evil")));
  EXPECT_THAT(r.output, Not(HasSubstr("sa/admin")));
}

}  // namespace
}  // namespace palisade::testing
