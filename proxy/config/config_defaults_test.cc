#include "proxy/config/config_defaults.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

namespace palisade::config {
namespace {

using v1::ProxyConfig;

int64_t Millis(const google::protobuf::Duration& d) {
  return d.seconds() * 1000 + d.nanos() / 1000000;
}

ProxyConfig TwoListeners() {
  ProxyConfig config;
  config.add_inbound()->set_name("in");
  config.add_outbound()->set_name("out");
  return config;
}

TEST(ConfigDefaultsTest, WritesEveryDocumentedDefault) {
  ProxyConfig config = TwoListeners();
  config.mutable_identity()->mutable_control_plane()->set_address("cp:1");
  ApplyDefaults(8, &config);

  for (const v1::ListenerLimits& limits :
       {config.inbound(0).limits(), config.outbound(0).limits()}) {
    EXPECT_EQ(limits.max_connections(), 10000u);
    EXPECT_EQ(limits.buffer_high_water_bytes(), 262144u);
    EXPECT_EQ(limits.max_pending_handshakes(), 4096u);
  }
  // Inbound peers each get a share; an outbound listener's one source is the app.
  EXPECT_EQ(config.inbound(0).limits().max_pending_handshakes_per_source(), 2048u);
  EXPECT_EQ(config.outbound(0).limits().max_pending_handshakes_per_source(), 4096u);
  for (const v1::Timeouts& t : {config.inbound(0).timeouts(), config.outbound(0).timeouts()}) {
    EXPECT_EQ(Millis(t.handshake()), 10000);
    EXPECT_EQ(Millis(t.connect()), 5000);
    EXPECT_EQ(Millis(t.idle()), 3600000);
  }
  const v1::ControlPlaneIdentitySource& cp = config.identity().control_plane();
  EXPECT_EQ(cp.renew_fraction(), 0.5);
  EXPECT_EQ(Millis(cp.initial_backoff()), 1000);
  EXPECT_EQ(Millis(cp.max_backoff()), 30000);
  EXPECT_EQ(cp.reattestation_token_file(), "");  // no join token file to put it beside
  ASSERT_TRUE(config.admin().has_enabled());
  EXPECT_TRUE(config.admin().enabled());
  EXPECT_EQ(config.admin().address(), "127.0.0.1:15000");
  EXPECT_FALSE(config.admin().allow_non_loopback());
  EXPECT_EQ(config.runtime().workers(), 8u);
  EXPECT_EQ(Millis(config.runtime().drain_timeout()), 30000);
  EXPECT_EQ(Millis(config.runtime().startup_hold()), 15000);
  EXPECT_EQ(Millis(config.runtime().dns_cache()), 5000);
  EXPECT_EQ(config.tls().min_version(), "1.2");
  ASSERT_TRUE(config.tls().has_session_resumption());
  EXPECT_TRUE(config.tls().session_resumption());
  ASSERT_TRUE(config.tls().has_verified_chain_cache());
  EXPECT_TRUE(config.tls().verified_chain_cache());
  EXPECT_EQ(Millis(config.tls().ticket_key_rotation()), 3600000);
  EXPECT_EQ(config.logging().level(), "info");
  EXPECT_EQ(config.logging().format(), "text");
  ASSERT_TRUE(config.logging().has_access_log());
  EXPECT_TRUE(config.logging().access_log());
  EXPECT_EQ(config.metrics().max_peer_identities(), 1000u);
  const v1::ReauthenticationConfig& reauth = config.reauthentication();
  ASSERT_TRUE(reauth.has_on_peer_expiry() && reauth.has_on_root_removed() &&
              reauth.has_on_policy_change() && reauth.has_on_revocation());
  // Loss of trust closes connections; routine expiry of a rotated certificate does not.
  EXPECT_FALSE(reauth.on_peer_expiry());
  EXPECT_TRUE(reauth.on_root_removed() && reauth.on_policy_change() && reauth.on_revocation());
  EXPECT_EQ(Millis(reauth.grace_period()), 10000);
}

TEST(ConfigDefaultsTest, GivesADisabledAdminServerNoAddress) {
  ProxyConfig config = TwoListeners();
  config.mutable_admin()->set_enabled(false);
  ApplyDefaults(8, &config);
  EXPECT_FALSE(config.admin().enabled());
  EXPECT_EQ(config.admin().address(), "");
}

TEST(ConfigDefaultsTest, KeepsEveryValueTheOperatorSet) {
  ProxyConfig config = TwoListeners();
  config.mutable_inbound(0)->mutable_limits()->set_max_connections(7);
  config.mutable_inbound(0)->mutable_timeouts()->mutable_idle()->set_seconds(9);
  config.mutable_runtime()->set_workers(3);
  config.mutable_tls()->set_session_resumption(false);
  config.mutable_tls()->set_verified_chain_cache(false);
  config.mutable_tls()->set_min_version("1.3");
  config.mutable_logging()->set_access_log(false);
  config.mutable_reauthentication()->set_on_root_removed(false);
  config.mutable_admin()->set_address("127.0.0.1:9");
  // Zero where zero is meaningful is an explicit choice, not an absence.
  config.mutable_runtime()->mutable_drain_timeout();
  ApplyDefaults(8, &config);

  EXPECT_EQ(config.inbound(0).limits().max_connections(), 7u);
  EXPECT_EQ(config.inbound(0).limits().buffer_high_water_bytes(), 262144u);
  EXPECT_EQ(config.inbound(0).timeouts().idle().seconds(), 9);
  EXPECT_EQ(config.runtime().workers(), 3u);
  EXPECT_FALSE(config.tls().session_resumption());
  EXPECT_FALSE(config.tls().verified_chain_cache());
  EXPECT_EQ(config.tls().min_version(), "1.3");
  EXPECT_FALSE(config.logging().access_log());
  EXPECT_FALSE(config.reauthentication().on_root_removed());
  EXPECT_FALSE(config.reauthentication().on_peer_expiry());  // the default, unset
  EXPECT_EQ(config.admin().address(), "127.0.0.1:9");
  EXPECT_EQ(Millis(config.runtime().drain_timeout()), 0);
}

TEST(ConfigDefaultsTest, KeepsTheReattestationTokenBesideTheJoinTokenUnlessTold) {
  ProxyConfig config = TwoListeners();
  config.mutable_identity()->mutable_control_plane()->set_join_token_file("/etc/palisade/token");
  ApplyDefaults(2, &config);
  EXPECT_EQ(config.identity().control_plane().reattestation_token_file(),
            "/etc/palisade/token.reattest");
  config.mutable_identity()->mutable_control_plane()->set_reattestation_token_file("/var/lib/x");
  ApplyDefaults(2, &config);
  EXPECT_EQ(config.identity().control_plane().reattestation_token_file(), "/var/lib/x");
}

TEST(ConfigDefaultsTest, ResolvesWorkersToAtLeastOne) {
  ProxyConfig config = TwoListeners();
  ApplyDefaults(0, &config);
  EXPECT_EQ(config.runtime().workers(), 1u);
}

TEST(ConfigDefaultsTest, NeverInventsAnIdentityOrAPolicy) {
  ProxyConfig config = TwoListeners();
  ApplyDefaults(2, &config);
  EXPECT_FALSE(config.has_identity());
  EXPECT_FALSE(config.inbound(0).has_authorization());
  EXPECT_FALSE(config.outbound(0).has_expected_peer());
}

TEST(ConfigDefaultsTest, LeavesFileIdentityWithoutControlPlaneSettings) {
  ProxyConfig config = TwoListeners();
  config.mutable_identity()->mutable_files();
  ApplyDefaults(2, &config);
  EXPECT_FALSE(config.identity().has_control_plane());
}

TEST(ConfigDefaultsTest, IsIdempotent) {
  ProxyConfig once = TwoListeners();
  ApplyDefaults(4, &once);
  ProxyConfig twice = once;
  ApplyDefaults(16, &twice);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(once, twice));
}

TEST(ConfigDefaultsTest, ReadsAbsentDurationsAsTheirFallback) {
  google::protobuf::Duration d;
  d.set_seconds(2);
  d.set_nanos(500000000);
  EXPECT_EQ(DurationOr(true, d, absl::Seconds(9)), absl::Milliseconds(2500));
  EXPECT_EQ(DurationOr(false, d, absl::Seconds(9)), absl::Seconds(9));
}

}  // namespace
}  // namespace palisade::config
