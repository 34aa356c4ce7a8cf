// The control stream's messages compile and round-trip, including the oneofs
// that tell a Hello from a CSR and an SVID from a bundle push.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include "proto/palisade/control/v1/control.grpc.pb.h"
#include "proto/palisade/control/v1/control.pb.h"

namespace palisade::control::v1 {
namespace {

using google::protobuf::util::MessageDifferencer;

template <typename T>
T RoundTrip(const T& message) {
  std::string wire;
  EXPECT_TRUE(message.SerializeToString(&wire));
  T parsed;
  EXPECT_TRUE(parsed.ParseFromString(wire));
  return parsed;
}

TEST(ControlProtoTest, HelloWithJoinTokenRoundTrips) {
  WatchRequest request;
  request.mutable_hello()->set_instance_name("cart-7d9f");
  request.mutable_hello()->set_join_token("token-value");
  const WatchRequest parsed = RoundTrip(request);
  ASSERT_EQ(parsed.kind_case(), WatchRequest::kHello);
  EXPECT_EQ(parsed.hello().credential_case(), Hello::kJoinToken);
  EXPECT_TRUE(MessageDifferencer::Equals(request, parsed));
}

TEST(ControlProtoTest, SvidUpdateCarriesChainBundleAndRenewHint) {
  WatchResponse response;
  SvidUpdate* svid = response.mutable_svid();
  svid->set_request_id(7);
  svid->add_certificate_chain_der(std::string("\x30\x82\x01\x00", 4));
  svid->add_certificate_chain_der(std::string("\x30\x82\x02\x00", 4));
  svid->mutable_renew_after()->set_seconds(1'800'000'000);
  TrustDomainBundle* domain = svid->mutable_bundle()->add_trust_domains();
  domain->set_trust_domain("cluster.local");
  domain->add_root_certificates_der(std::string("\x30\x00", 2));
  svid->mutable_bundle()->set_version(3);

  const WatchResponse parsed = RoundTrip(response);
  ASSERT_EQ(parsed.kind_case(), WatchResponse::kSvid);
  EXPECT_EQ(parsed.svid().certificate_chain_der_size(), 2);
  EXPECT_EQ(parsed.svid().bundle().trust_domains(0).trust_domain(), "cluster.local");
  EXPECT_TRUE(MessageDifferencer::Equals(response, parsed));
}

TEST(ControlProtoTest, ConnectionReportRoundTrips) {
  WatchRequest request;
  RootUsage* usage = request.mutable_connection_report()->add_roots();
  usage->set_fingerprint_sha256(std::string(64, 'a'));
  usage->set_live_connections(12);
  EXPECT_TRUE(MessageDifferencer::Equals(request, RoundTrip(request)));
}

TEST(ControlProtoTest, ServiceDeclaresOneBidirectionalWatchMethod) {
  const auto* service = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
      IdentityService::service_full_name());
  ASSERT_NE(service, nullptr);
  ASSERT_EQ(service->method_count(), 1);
  EXPECT_EQ(service->method(0)->name(), "Watch");
  EXPECT_TRUE(service->method(0)->client_streaming());
  EXPECT_TRUE(service->method(0)->server_streaming());
}

}  // namespace
}  // namespace palisade::control::v1
