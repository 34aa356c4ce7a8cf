// inbound[].caller_identity: each mistake named by its field.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proxy/config/config_defaults.h"
#include "proxy/config/config_validator.h"

namespace palisade::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Only the caller_identity problems (the rest of this config is not complete).
std::vector<std::string> Problems(const v1::CallerIdentity& caller) {
  v1::ProxyConfig config;
  v1::InboundListener* in = config.add_inbound();
  in->set_name("app-in");
  in->set_address("127.0.0.1:15006");
  in->set_forward_to("127.0.0.1:8080");
  *in->mutable_caller_identity() = caller;
  ConfigErrors errors;
  ValidateProxyConfig(config, &errors);
  std::vector<std::string> rendered;
  for (const ConfigError& error : errors.errors()) {
    const std::string line = ConfigErrors::Render(error);
    if (line.find("caller_identity") != std::string::npos) rendered.push_back(line);
  }
  return rendered;
}

v1::CallerIdentity Mode(const std::string& mode) {
  v1::CallerIdentity caller;
  caller.set_mode(mode);
  return caller;
}

TEST(CallerIdentityValidationTest, AcceptsBothModes) {
  EXPECT_THAT(Problems(Mode("proxy_protocol")), IsEmpty());
  EXPECT_THAT(Problems(Mode("http_header")), IsEmpty());
  v1::CallerIdentity caller = Mode("http_header");
  caller.set_header_name("X-Client-Identity");
  caller.set_max_header_bytes(8192);
  EXPECT_THAT(Problems(caller), IsEmpty());
}

TEST(CallerIdentityValidationTest, NamesAnUnknownOrMissingMode) {
  EXPECT_THAT(Problems(Mode("proxy_protocol_v1")),
              ElementsAre(HasSubstr("inbound[0].caller_identity.mode: \"proxy_protocol_v1\": "
                                    "must be proxy_protocol or http_header")));
  EXPECT_THAT(Problems(Mode("")), ElementsAre(HasSubstr("inbound[0].caller_identity.mode")));
}

TEST(CallerIdentityValidationTest, RefusesHeaderSettingsWithProxyProtocol) {
  v1::CallerIdentity caller = Mode("proxy_protocol");
  caller.set_header_name("x-id");
  caller.set_max_header_bytes(4096);
  EXPECT_THAT(Problems(caller),
              ElementsAre(HasSubstr("caller_identity.header_name: is only used with mode "
                                    "http_header"),
                          HasSubstr("caller_identity.max_header_bytes: is only used")));
}

TEST(CallerIdentityValidationTest, RefusesHeaderNamesThatAreNotTokensOrFraming) {
  v1::CallerIdentity caller = Mode("http_header");
  caller.set_header_name("x id:");
  EXPECT_THAT(Problems(caller), ElementsAre(HasSubstr("caller_identity.header_name: \"x id:\": "
                                                      "not an HTTP header name")));
  caller.set_header_name("Content-Length");
  EXPECT_THAT(Problems(caller),
              ElementsAre(HasSubstr("\"Content-Length\": a framing or hop-by-hop header")));
}

TEST(CallerIdentityValidationTest, BoundsTheHeaderCap) {
  v1::CallerIdentity caller = Mode("http_header");
  caller.set_max_header_bytes(100);
  EXPECT_THAT(Problems(caller), ElementsAre(HasSubstr("caller_identity.max_header_bytes: 100 is "
                                                      "outside 1024..81920")));
}

TEST(CallerIdentityValidationTest, DefaultsFillTheHeaderModeOnly) {
  v1::ProxyConfig config;
  *config.add_inbound()->mutable_caller_identity() = Mode("http_header");
  *config.add_inbound()->mutable_caller_identity() = Mode("proxy_protocol");
  config.add_inbound();
  ApplyDefaults(1, &config);
  EXPECT_EQ(config.inbound(0).caller_identity().header_name(), kDefaultCallerIdentityHeader);
  EXPECT_EQ(config.inbound(0).caller_identity().max_header_bytes(),
            kDefaultCallerIdentityMaxHeaderBytes);
  EXPECT_EQ(config.inbound(1).caller_identity().header_name(), "");
  EXPECT_FALSE(config.inbound(2).has_caller_identity());
}

}  // namespace
}  // namespace palisade::config
