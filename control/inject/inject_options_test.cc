#include "control/inject/inject_options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/util/status_matchers.h"

namespace palisade::inject {
namespace {

using ::palisade::testing::IsOk;
using ::palisade::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(InjectOptionsTest, DefaultsAreValid) { EXPECT_THAT(ValidateInjectOptions({}), IsOk()); }

TEST(InjectOptionsTest, RefusesATokenLifetimeKubernetesWouldRefuse) {
  InjectOptions o;
  o.token_expiration_seconds = 60;
  EXPECT_THAT(ValidateInjectOptions(o),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("token_expiration_seconds")));
}

TEST(InjectOptionsTest, RefusesRootAsTheProxyUid) {
  InjectOptions o;
  o.proxy_uid = 0;
  EXPECT_THAT(ValidateInjectOptions(o),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("proxy_uid")));
}

TEST(InjectOptionsTest, RefusesClashingOrOutOfRangePorts) {
  InjectOptions o;
  o.health_port = o.inbound_port;
  EXPECT_THAT(ValidateInjectOptions(o), StatusIs(absl::StatusCode::kInvalidArgument));
  o = {};
  o.outbound_port = 70000;
  EXPECT_THAT(ValidateInjectOptions(o),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("outbound_port")));
}

TEST(InjectOptionsTest, RefusesAConfigMapNameKubernetesWouldRefuse) {
  InjectOptions o;
  o.proxy_config_map = "Palisade_Proxy";
  EXPECT_THAT(ValidateInjectOptions(o),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("proxy_config_map")));
}

TEST(InjectOptionsTest, RefusesAnUnknownPullPolicy) {
  InjectOptions o;
  o.image_pull_policy = "Sometimes";
  EXPECT_THAT(ValidateInjectOptions(o), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(InjectOptionsTest, ParsesPortListsWithSpaces) {
  ASSERT_OK_AND_ASSIGN(std::vector<int> ports, ParsePortList(" 8081, 9090 ,"));
  EXPECT_THAT(ports, ElementsAre(8081, 9090));
  ASSERT_OK_AND_ASSIGN(ports, ParsePortList(""));
  EXPECT_TRUE(ports.empty());
}

TEST(InjectOptionsTest, RefusesPortListsWithWordsOrZero) {
  EXPECT_THAT(ParsePortList("8081,http"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"http\"")));
  EXPECT_THAT(ParsePortList("0"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(InjectOptionsTest, ParsesCidrsAndRefusesShellMetacharacters) {
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> cidrs, ParseCidrList("10.0.0.0/8, fd00::/8"));
  EXPECT_THAT(cidrs, ElementsAre("10.0.0.0/8", "fd00::/8"));
  EXPECT_THAT(ParseCidrList("10.0.0.0/8;reboot"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseCidrList("10.0.0.1"), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace palisade::inject
