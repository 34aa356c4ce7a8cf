#include "proxy/metrics/close_reason.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace palisade::metrics {
namespace {

void ExpectClassified(absl::string_view close_reason, const std::string& reason,
                      const std::string& side) {
  const ConnectionError e = ClassifyCloseReason(close_reason);
  EXPECT_EQ(e.reason, reason) << close_reason;
  EXPECT_EQ(e.side, side) << close_reason;
}

TEST(ClassifyCloseReasonTest, ACleanCloseIsNoError) { ExpectClassified("done", "", ""); }

TEST(ClassifyCloseReasonTest, NamesRefusedConnectsBySide) {
  ExpectClassified("upstream_connection_refused", "connect_refused", "upstream");
  ExpectClassified("app_connection_refused", "connect_refused", "upstream");
}

TEST(ClassifyCloseReasonTest, FoldsResetsAndBrokenPipesIntoReset) {
  ExpectClassified("downstream_connection_reset", "reset", "downstream");
  ExpectClassified("upstream_broken_pipe", "reset", "upstream");
}

TEST(ClassifyCloseReasonTest, FoldsRefusedHttpRequestsIntoHttpRefused) {
  ExpectClassified("downstream_http_bad_request", "http_refused", "downstream");
  ExpectClassified("downstream_http2_refused", "http_refused", "downstream");
}

TEST(ClassifyCloseReasonTest, KeepsLifecycleReasonsAsTheyAre) {
  ExpectClassified("idle_timeout", "idle_timeout", "proxy");
  ExpectClassified("drained", "drained", "proxy");
  ExpectClassified("peer_expired", "peer_expired", "proxy");
  ExpectClassified("root_removed", "root_removed", "proxy");
  ExpectClassified("no_identity", "no_identity", "proxy");
  ExpectClassified("pending_evicted", "pending_evicted", "proxy");
  ExpectClassified("max_connections", "max_connections", "proxy");
}

TEST(ClassifyCloseReasonTest, NamesConnectFailures) {
  ExpectClassified("upstream_connect_timeout", "connect_timeout", "upstream");
  ExpectClassified("app_connect_timeout", "connect_timeout", "upstream");
  ExpectClassified("upstream_connect_failed", "connect_failed", "upstream");
  ExpectClassified("upstream_unreachable", "connect_failed", "upstream");
  ExpectClassified("upstream_unresolved", "unresolved", "upstream");
}

TEST(ClassifyCloseReasonTest, BoundsUnknownReasonsToIoError) {
  ExpectClassified("downstream_io_error", "io_error", "downstream");
  ExpectClassified("upstream_socket_error", "io_error", "upstream");
  ExpectClassified("something_new", "io_error", "proxy");
}

// Every known error is created at zero per listener: the list holds what the
// classifier gives, with no empty label value.
TEST(ClassifyCloseReasonTest, KnownErrorsCoverTheClassifierWithNoEmptyLabel) {
  const std::vector<ConnectionError> known = KnownConnectionErrors();
  const auto listed = [&](const ConnectionError& e) {
    for (const ConnectionError& k : known) {
      if (k.reason == e.reason && k.side == e.side) return true;
    }
    return false;
  };
  for (const ConnectionError& k : known) {
    EXPECT_FALSE(k.reason.empty());
    EXPECT_FALSE(k.side.empty()) << k.reason;
  }
  for (const char* side : {"downstream_", "upstream_", "app_", ""}) {
    for (const char* rest :
         {"connection_refused", "connect_timeout", "connect_failed", "unreachable", "unresolved",
          "connection_reset", "broken_pipe", "timeout", "idle_timeout", "drained", "peer_expired",
          "root_removed", "policy_changed", "no_identity", "pending_evicted", "max_connections",
          "io_error"}) {
      const std::string reason = absl::StrCat(side, rest);
      EXPECT_TRUE(listed(ClassifyCloseReason(reason))) << reason;
    }
  }
}

}  // namespace
}  // namespace palisade::metrics
