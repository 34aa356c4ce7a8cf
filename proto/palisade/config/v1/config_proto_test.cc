// The config schema compiles and survives binary and JSON round trips, so the
// YAML loader (which maps onto it) and /config (which prints it) can rely on it.
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include "proto/palisade/config/v1/config.pb.h"

namespace palisade::config::v1 {
namespace {

ProxyConfig SampleConfig() {
  ProxyConfig config;
  auto* files = config.mutable_identity()->mutable_files();
  config.mutable_identity()->set_spiffe_id("spiffe://cluster.local/ns/shop/sa/cart");
  files->set_certificate_chain_file("/etc/palisade/svid.pem");
  files->set_private_key_file("/etc/palisade/svid.key");
  auto* bundle = files->add_trust_bundles();
  bundle->set_trust_domain("cluster.local");
  bundle->set_file("/etc/palisade/bundle.pem");

  auto* in = config.add_inbound();
  in->set_name("cart-in");
  in->set_address("0.0.0.0:15006");
  in->set_forward_to("127.0.0.1:8080");
  in->mutable_authorization()->add_path_prefixes("spiffe://cluster.local/ns/shop/");
  in->mutable_timeouts()->mutable_handshake()->set_seconds(5);

  auto* out = config.add_outbound();
  out->set_name("to-payments");
  out->set_address("127.0.0.1:15001");
  out->set_upstream("payments.shop:15006");
  out->mutable_expected_peer()->set_spiffe_id("spiffe://cluster.local/ns/shop/sa/payments");

  config.mutable_tls()->set_session_resumption(false);
  config.mutable_runtime()->set_workers(2);
  return config;
}

TEST(ConfigProtoTest, SurvivesBinaryRoundTrip) {
  const ProxyConfig original = SampleConfig();
  std::string wire;
  ASSERT_TRUE(original.SerializeToString(&wire));
  ProxyConfig parsed;
  ASSERT_TRUE(parsed.ParseFromString(wire));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(original, parsed))
      << parsed.DebugString();
}

TEST(ConfigProtoTest, SurvivesJsonRoundTripWithYamlFieldNames) {
  const ProxyConfig original = SampleConfig();
  std::string json;
  google::protobuf::util::JsonPrintOptions print;
  print.preserve_proto_field_names = true;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(original, &json, print).ok());
  EXPECT_NE(json.find("\"forward_to\":\"127.0.0.1:8080\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"handshake\":\"5s\""), std::string::npos) << json;

  ProxyConfig parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(original, parsed));
}

TEST(ConfigProtoTest, DistinguishesUnsetOptionalBoolFromFalse) {
  ProxyConfig config;
  EXPECT_FALSE(config.tls().has_session_resumption());
  config.mutable_tls()->set_session_resumption(false);
  EXPECT_TRUE(config.tls().has_session_resumption());
}

TEST(ConfigProtoTest, IdentitySourceHoldsOneKindAtATime) {
  ProxyConfig config = SampleConfig();
  EXPECT_EQ(config.identity().source_case(), IdentitySource::kFiles);
  config.mutable_identity()->mutable_control_plane()->set_address("127.0.0.1:15012");
  EXPECT_EQ(config.identity().source_case(), IdentitySource::kControlPlane);
  EXPECT_FALSE(config.identity().has_files());
}

}  // namespace
}  // namespace palisade::config::v1
