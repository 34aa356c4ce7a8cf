#include "proxy/metrics/proxy_metrics.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "proxy/metrics/close_reason.h"
#include "tests/util/prometheus_text.h"
#include "tests/util/test_pki.h"

namespace palisade::metrics {
namespace {

using palisade::testing::MetricSum;
using palisade::testing::MetricValue;

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

forward::HandshakeOutcome Success(const std::string& peer, bool resumed = false) {
  forward::HandshakeOutcome o;
  o.ok = true;
  o.reason = "ok";
  o.peer_id = peer;
  o.resumed = resumed;
  o.duration = absl::Milliseconds(3);
  return o;
}

forward::HandshakeOutcome Failure(const std::string& reason, const std::string& peer = "") {
  forward::HandshakeOutcome o;
  o.reason = reason;
  o.peer_id = peer;
  return o;
}

// A snapshot as the credential store would publish it, without TLS contexts
// (the metrics read only the identity fields and the bundles).
credentials::CredentialSnapshot Snapshot(const testing::TestPki& pki, const std::string& serial,
                                         absl::Time not_after, absl::Time chain_not_after,
                                         const std::string& extra_domain = "") {
  credentials::CredentialSnapshot s(*identity::SpiffeId::Parse("spiffe://td.example/sa/me"));
  s.serial = serial;
  s.source = "files";
  s.not_before = kNow - absl::Hours(1);
  s.not_after = not_after;
  s.chain_not_after = chain_not_after;
  s.loaded_at = kNow;
  identity::TrustBundleSet::Builder builder;
  EXPECT_TRUE(builder.Add("td.example", pki.root().x509()).ok());
  if (!extra_domain.empty()) EXPECT_TRUE(builder.Add(extra_domain, pki.root().x509()).ok());
  s.bundles = builder.Build();
  return s;
}

class ProxyMetricsTest : public ::testing::Test {
 protected:
  std::string Text() { return metrics_.Serialize(kNow); }

  void SetUp() override {
    in_.name = "in";
    in_.direction = forward::Direction::kInbound;
    out_.name = "out";
    out_.direction = forward::Direction::kOutbound;
  }

  ProxyMetrics metrics_{3};
  forward::ListenerContext in_;
  forward::ListenerContext out_;
};

TEST_F(ProxyMetricsTest, CountsHandshakesByResultReasonAndPeer) {
  metrics_.OnHandshake(in_, Success("spiffe://td/a"));
  metrics_.OnHandshake(in_, Success("spiffe://td/a", /*resumed=*/true));
  metrics_.OnHandshake(in_, Failure("untrusted_chain"));
  metrics_.OnHandshake(out_, Failure("not_authorized", "spiffe://td/b"));
  const std::string text = Text();
  EXPECT_EQ(MetricValue(text, "palisade_handshakes_total",
                        {{"direction", "inbound"},
                         {"result", "success"},
                         {"reason", "ok"},
                         {"peer_identity", "spiffe://td/a"}}),
            2);
  EXPECT_EQ(MetricValue(text, "palisade_handshakes_total",
                        {{"result", "failure"}, {"reason", "untrusted_chain"}}),
            1);
  EXPECT_EQ(MetricValue(text, "palisade_authorization_denials_total",
                        {{"direction", "outbound"}, {"peer_identity", "spiffe://td/b"}}),
            1);
  EXPECT_EQ(MetricValue(text, "palisade_handshakes_resumed_total", {{"direction", "inbound"}}), 1);
  // Every direction x mode series exists from the start; these two counted.
  EXPECT_EQ(MetricSum(text, "palisade_handshake_duration_seconds_count", {{"mode", "resumed"}}), 1);
  EXPECT_EQ(MetricSum(text, "palisade_handshake_duration_seconds_count", {{"mode", "full"}}), 1);
}

TEST_F(ProxyMetricsTest, FoldsPeersBeyondTheCapIntoOtherAndCountsThem) {
  for (int i = 0; i < 10; ++i) metrics_.OnHandshake(in_, Success(absl::StrCat("spiffe://td/", i)));
  metrics_.OnHandshake(in_, Success("spiffe://td/0"));  // known: keeps its name
  const std::string text = Text();
  EXPECT_EQ(MetricValue(text, "palisade_handshakes_total", {{"peer_identity", "other"}}), 7);
  EXPECT_EQ(MetricValue(text, "palisade_handshakes_total", {{"peer_identity", "spiffe://td/0"}}),
            2);
  EXPECT_EQ(MetricValue(text, "palisade_peer_identities_folded_total"), 7);
  EXPECT_EQ(MetricValue(text, "palisade_peer_identities"), 3);
}

TEST_F(ProxyMetricsTest, CountsConnectionErrorsByNormalisedReasonAndSide) {
  forward::ConnectionSummary refused;
  refused.close_reason = "upstream_connection_refused";
  forward::ConnectionSummary idle;
  idle.handshake_ok = true;
  idle.close_reason = "idle_timeout";
  idle.bytes_from_downstream = 10;
  idle.bytes_from_upstream = 20;
  forward::ConnectionSummary clean;
  clean.handshake_ok = true;
  clean.close_reason = "done";
  for (const auto* s : {&refused, &idle, &clean}) {
    metrics_.OnAccepted(out_);
    metrics_.OnClosed(out_, *s);
  }
  const std::string text = Text();
  EXPECT_EQ(MetricValue(text, "palisade_connection_errors_total",
                        {{"reason", "connect_refused"}, {"side", "upstream"}}),
            1);
  EXPECT_EQ(MetricValue(text, "palisade_connection_errors_total", {{"reason", "idle_timeout"}}), 1);
  EXPECT_EQ(MetricSum(text, "palisade_connection_errors_total"), 2);
  EXPECT_EQ(MetricValue(text, "palisade_connections_total", {{"listener", "out"}}), 3);
  EXPECT_EQ(MetricValue(text, "palisade_connections_active", {{"listener", "out"}}), 0);
  EXPECT_EQ(MetricValue(text, "palisade_received_bytes_total"), 10);
  EXPECT_EQ(MetricValue(text, "palisade_sent_bytes_total"), 20);
}

TEST_F(ProxyMetricsTest, ExportsAListenersConnectionSeriesAtZeroBeforeAnyTraffic) {
  metrics_.AddListener("in", forward::Direction::kInbound);
  const std::string text = Text();
  EXPECT_EQ(MetricValue(text, "palisade_connections_total", {{"listener", "in"}}), 0);
  EXPECT_EQ(MetricValue(text, "palisade_connections_active", {{"listener", "in"}}), 0);
  EXPECT_EQ(MetricValue(text, "palisade_received_bytes_total", {{"listener", "in"}}), 0);
  EXPECT_EQ(MetricValue(text, "palisade_connections_refused_total",
                        {{"listener", "in"}, {"reason", "max_connections"}}),
            0);
  EXPECT_EQ(MetricValue(text, "palisade_handshakes_resumed_total", {{"direction", "inbound"}}), 0);
}

TEST_F(ProxyMetricsTest, DoesNotCountAFailedHandshakeAgainAsAConnectionError) {
  metrics_.OnAccepted(in_);
  metrics_.OnHandshake(in_, Failure("timeout"));
  forward::ConnectionSummary s;
  s.handshake_failed = true;
  s.close_reason = "timeout";
  metrics_.OnClosed(in_, s);
  const std::string text = Text();
  EXPECT_EQ(MetricSum(text, "palisade_connection_errors_total"), 0);
  EXPECT_EQ(MetricValue(text, "palisade_handshakes_total", {{"reason", "timeout"}}), 1);
}

TEST_F(ProxyMetricsTest, CountsPendingEvictionsAndSuppressedAccessLogLines) {
  metrics_.OnAccepted(in_);
  forward::ConnectionSummary evicted;
  evicted.close_reason = "pending_evicted";
  metrics_.OnClosed(in_, evicted);
  for (int i = 0; i < 3; ++i) metrics_.OnAccessLogSuppressed(in_, "pending_evicted");
  const std::string text = Text();
  EXPECT_EQ(MetricValue(text, "palisade_connection_errors_total", {{"reason", "pending_evicted"}}),
            1);
  EXPECT_EQ(
      MetricValue(text, "palisade_access_log_suppressed_total",
                  {{"listener", "in"}, {"direction", "inbound"}, {"reason", "pending_evicted"}}),
      3);
}

TEST_F(ProxyMetricsTest, ReportsExpiryIdentityLossAndRotations) {
  testing::TestPki pki({.trust_domain = "td.example", .now = kNow});
  metrics_.OnSnapshot(Snapshot(pki, "01", kNow + absl::Hours(1), kNow + absl::Minutes(30)));
  std::string text = Text();
  EXPECT_EQ(MetricValue(text, "palisade_svid_expiry_timestamp_seconds"),
            absl::ToUnixSeconds(kNow + absl::Hours(1)));
  EXPECT_EQ(MetricValue(text, "palisade_svid_expires_in_seconds"), 3600);
  EXPECT_EQ(MetricValue(text, "palisade_svid_lifetime_seconds"), 7200);
  EXPECT_EQ(MetricValue(text, "palisade_identity_loss_in_seconds"), 1800);
  EXPECT_EQ(
      MetricValue(
          text, "palisade_svid_info",
          {{"spiffe_id", "spiffe://td.example/sa/me"}, {"serial", "01"}, {"source", "files"}}),
      1);
  EXPECT_EQ(MetricValue(text, "palisade_svid_rotations_total"), 0);
  EXPECT_EQ(MetricValue(text, "palisade_trust_bundle_roots", {{"trust_domain", "td.example"}}), 1);

  metrics_.OnSnapshot(Snapshot(pki, "02", kNow + absl::Hours(2), kNow + absl::Hours(2)));
  text = Text();
  EXPECT_EQ(MetricValue(text, "palisade_svid_rotations_total"), 1);
  EXPECT_EQ(MetricSum(text, "palisade_svid_info"), 1) << "one info series, the current SVID's";
  EXPECT_EQ(MetricValue(text, "palisade_svid_info", {{"serial", "02"}}), 1);
}

TEST_F(ProxyMetricsTest, DropsTheRootsGaugeOfATrustDomainThatLeftTheBundle) {
  testing::TestPki pki({.trust_domain = "td.example", .now = kNow});
  metrics_.OnSnapshot(Snapshot(pki, "01", kNow + absl::Hours(1), kNow + absl::Hours(1), "b.org"));
  EXPECT_EQ(MetricValue(Text(), "palisade_trust_bundle_roots", {{"trust_domain", "b.org"}}), 1);
  metrics_.OnSnapshot(Snapshot(pki, "01", kNow + absl::Hours(1), kNow + absl::Hours(1)));
  EXPECT_FALSE(
      MetricValue(Text(), "palisade_trust_bundle_roots", {{"trust_domain", "b.org"}}).has_value());
  EXPECT_EQ(MetricValue(Text(), "palisade_trust_bundle_last_update_timestamp_seconds"),
            absl::ToUnixSeconds(kNow));
}

TEST_F(ProxyMetricsTest, ReportsControlPlaneStreamState) {
  metrics_.SetControlPlaneConnected(true);
  metrics_.OnControlPlaneReconnect();
  metrics_.SetControlPlaneAddress("10.0.0.1:15012");
  metrics_.SetControlPlaneAddress("10.0.0.2:15012");
  metrics_.OnControlPlaneFailover();
  metrics_.OnRenewal(kNow);
  const std::string text = Text();
  EXPECT_EQ(MetricValue(text, "palisade_identity_client_connected"), 1);
  EXPECT_EQ(MetricValue(text, "palisade_identity_client_reconnects_total"), 1);
  EXPECT_EQ(MetricValue(text, "palisade_identity_client_failovers_total"), 1);
  // Only the replica of the current stream has a series.
  EXPECT_EQ(
      MetricValue(text, "palisade_identity_client_control_plane", {{"address", "10.0.0.2:15012"}}),
      1);
  EXPECT_EQ(text.find("10.0.0.1:15012"), std::string::npos);
  EXPECT_EQ(MetricValue(text, "palisade_identity_client_last_renewal_timestamp_seconds"),
            absl::ToUnixSeconds(kNow));
}

TEST_F(ProxyMetricsTest, CarriesBuildInfoAndProcessMetrics) {
  const std::string text = Text();
  EXPECT_EQ(MetricValue(text, "palisade_build_info", {{"revision", "unknown"}}), 1);
  EXPECT_GT(MetricValue(text, "process_resident_memory_bytes").value_or(0), 0);
  EXPECT_GT(MetricValue(text, "process_open_fds").value_or(0), 0);
  EXPECT_GT(MetricValue(text, "process_start_time_seconds").value_or(0), 0);
  EXPECT_TRUE(MetricValue(text, "process_cpu_seconds_total").has_value());
}

TEST_F(ProxyMetricsTest, CountsConfigReloadsByResultFromZero) {
  std::string text = Text();
  for (const char* result : ProxyMetrics::kConfigReloadResults) {
    EXPECT_EQ(MetricValue(text, "palisade_config_reloads_total", {{"result", result}}), 0)
        << result;
  }
  EXPECT_EQ(MetricValue(text, "palisade_config_last_reload_successful"), 1);
  EXPECT_GT(MetricValue(text, "palisade_config_last_reload_success_timestamp_seconds").value_or(0),
            0);
  metrics_.OnConfigReload("invalid", kNow);
  text = Text();
  EXPECT_EQ(MetricValue(text, "palisade_config_reloads_total", {{"result", "invalid"}}), 1);
  EXPECT_EQ(MetricValue(text, "palisade_config_last_reload_successful"), 0);
  metrics_.OnConfigReload("ok", kNow);
  text = Text();
  EXPECT_EQ(MetricValue(text, "palisade_config_reloads_total", {{"result", "ok"}}), 1);
  EXPECT_EQ(MetricValue(text, "palisade_config_last_reload_successful"), 1);
  EXPECT_EQ(MetricValue(text, "palisade_config_last_reload_success_timestamp_seconds"),
            absl::ToUnixSeconds(kNow));
}

TEST_F(ProxyMetricsTest, CreatesEveryConnectionErrorAtZeroPerListener) {
  metrics_.AddListener("in", forward::Direction::kInbound);
  const std::string text = Text();
  for (const ConnectionError& e : KnownConnectionErrors()) {
    EXPECT_EQ(MetricValue(text, "palisade_connection_errors_total",
                          {{"listener", "in"}, {"reason", e.reason}, {"side", e.side}}),
              0)
        << e.reason << " " << e.side;
  }
}

// increase() misses a series' first event unless the series was there at
// zero before it: every known reason, per listener, from the start.
TEST_F(ProxyMetricsTest, CreatesEveryHandshakeFailureAndSuppressedLogReasonAtZeroPerListener) {
  metrics_.AddListener("in", forward::Direction::kInbound);
  const std::string text = Text();
  for (const std::string& reason : forward::KnownHandshakeFailureReasons()) {
    if (reason == "not_authorized") continue;  // carries the refused peer's identity
    EXPECT_EQ(MetricValue(text, "palisade_handshakes_total",
                          {{"listener", "in"},
                           {"result", "failure"},
                           {"reason", reason},
                           {"peer_identity", "none"}}),
              0)
        << reason;
    EXPECT_EQ(MetricValue(text, "palisade_access_log_suppressed_total",
                          {{"listener", "in"}, {"reason", reason}}),
              0)
        << reason;
  }
  for (const char* reason : {"untrusted_chain", "timeout", "peer_closed", "not_tls",
                             "connection_reset", "no_identity", "identity_expired"}) {
    EXPECT_EQ(MetricValue(text, "palisade_handshakes_total",
                          {{"listener", "in"}, {"result", "failure"}, {"reason", reason}}),
              0)
        << reason;
  }
  for (const char* reason : {"max_connections", "fd_limit", "pending_evicted", "drained"}) {
    EXPECT_EQ(MetricValue(text, "palisade_access_log_suppressed_total",
                          {{"listener", "in"}, {"reason", reason}}),
              0)
        << reason;
  }
}

// An empty label value reads as a missing label: none anywhere, also after
// a failed handshake with no peer and a lifecycle close.
TEST_F(ProxyMetricsTest, WritesNoEmptyLabelValue) {
  metrics_.AddListener("in", forward::Direction::kInbound);
  metrics_.OnAccepted(in_);
  metrics_.OnHandshake(in_, Failure("untrusted_chain"));
  forward::ConnectionSummary summary;
  summary.close_reason = "idle_timeout";
  metrics_.OnClosed(in_, summary);
  const std::string text = Text();
  EXPECT_EQ(text.find("=\"\""), std::string::npos) << text;
  EXPECT_EQ(MetricValue(text, "palisade_handshakes_total",
                        {{"reason", "untrusted_chain"}, {"peer_identity", "none"}}),
            1);
  EXPECT_EQ(MetricValue(text, "palisade_connection_errors_total",
                        {{"reason", "idle_timeout"}, {"side", "proxy"}}),
            1);
}

}  // namespace
}  // namespace palisade::metrics
