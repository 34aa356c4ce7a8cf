#include "proxy/config/gateway_check.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace palisade::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kCertificate[] = "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n";

class GatewayCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = tmp != nullptr ? tmp : "/tmp";
    ca_ = Write("ca.pem", kCertificate);
    in_.set_name("devices");
    v1::GatewayClients* g = in_.mutable_gateway();
    g->add_trust_store_files(ca_);
    g->set_identity_from("dns_san");
    g->mutable_allow()->add_dns_wildcards("*.devices.example.com");
  }
  std::string Write(const std::string& name, const std::string& contents) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << contents;
    return path;
  }
  std::vector<std::string> Problems() {
    ConfigErrors errors;
    CheckGatewayListener("inbound[0]", in_, &errors);
    std::vector<std::string> rendered;
    for (const ConfigError& e : errors.errors()) rendered.push_back(ConfigErrors::Render(e));
    return rendered;
  }

  std::string dir_, ca_;
  v1::InboundListener in_;
};

TEST_F(GatewayCheckTest, AcceptsAGatewayWithATrustStoreAndAWildcard) {
  EXPECT_THAT(Problems(), IsEmpty());
}

TEST_F(GatewayCheckTest, NamesTheTrustStoreFileThatIsMissingOrNotCertificates) {
  in_.mutable_gateway()->add_trust_store_files(Write("not-a-ca.pem", "hello\n"));
  in_.mutable_gateway()->add_trust_store_files(dir_ + "/missing.pem");
  EXPECT_THAT(Problems(), ElementsAre(HasSubstr("inbound[0].gateway.trust_store_files[1]: "),
                                      HasSubstr("inbound[0].gateway.trust_store_files[2]: ")));
  in_.mutable_gateway()->clear_trust_store_files();
  EXPECT_THAT(Problems(), ElementsAre(HasSubstr("inbound[0].gateway.trust_store_files: is "
                                                "required")));
}

TEST_F(GatewayCheckTest, NamesACrlFileThatDoesNotParse) {
  in_.mutable_gateway()->add_crl_files(
      Write("bad.crl", "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"));
  EXPECT_THAT(Problems(), ElementsAre(HasSubstr("inbound[0].gateway.crl_files[0]: CRL file")));
}

TEST_F(GatewayCheckTest, NamesEveryBadRuleAndValue) {
  in_.mutable_gateway()->set_identity_from("cn");
  in_.mutable_gateway()->mutable_allow()->add_dns_wildcards("*.com");
  in_.mutable_gateway()->mutable_allow()->add_subjects("sensors");
  in_.set_min_tls_version("1.1");
  in_.mutable_authorization()->add_trust_domains("cluster.local");
  EXPECT_THAT(
      Problems(),
      ElementsAre(HasSubstr("inbound[0].min_tls_version: \"1.1\" is not allowed"),
                  HasSubstr("inbound[0].authorization: does not apply to a gateway listener"),
                  HasSubstr("inbound[0].gateway.identity_from: \"cn\" is not one of"),
                  HasSubstr("inbound[0].gateway.allow.dns_wildcards[1]: \"*.com\" a wildcard "
                            "needs at least two labels"),
                  HasSubstr("inbound[0].gateway.allow.subjects[0]: \"sensors\" must be")));
}

TEST_F(GatewayCheckTest, AcceptsAnEmptyAllowListWhichValidateWarnsAbout) {
  in_.mutable_gateway()->clear_allow();
  EXPECT_THAT(Problems(), IsEmpty());  // deny by default: legal, and said at --validate
}

}  // namespace
}  // namespace palisade::config
