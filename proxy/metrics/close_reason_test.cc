#include "proxy/metrics/close_reason.h"

#include <gtest/gtest.h>

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

TEST(ClassifyCloseReasonTest, KeepsLifecycleReasonsAsTheyAre) {
  ExpectClassified("idle_timeout", "idle_timeout", "");
  ExpectClassified("drained", "drained", "");
  ExpectClassified("peer_expired", "peer_expired", "");
  ExpectClassified("root_removed", "root_removed", "");
  ExpectClassified("no_identity", "no_identity", "");
  ExpectClassified("pending_evicted", "pending_evicted", "");
  ExpectClassified("max_connections", "max_connections", "");
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
  ExpectClassified("something_new", "io_error", "");
}

}  // namespace
}  // namespace palisade::metrics
