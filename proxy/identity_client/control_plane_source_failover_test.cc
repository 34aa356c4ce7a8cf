// Several control-plane replicas (identity.control_plane.addresses): the
// source moves to the next replica at once when one is down or its stream
// breaks, and backs off only after every replica of a round failed. The
// backoff here is long (5 s) so that a move within 2 s cannot come from it.
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "proxy/identity_client/control_plane_source_fixture.h"
#include "tests/util/loopback.h"
#include "tests/util/process.h"

namespace palisade::identity_client::source_testing {
namespace {

using ::palisade::testing::PickFreeLoopbackPort;

ControlPlaneSource::Options WithLongBackoff(ControlPlaneSource::Options options) {
  options.config.mutable_initial_backoff()->set_seconds(5);
  options.config.mutable_initial_backoff()->set_nanos(0);
  options.config.mutable_max_backoff()->set_seconds(10);
  options.config.mutable_max_backoff()->set_nanos(0);
  return options;
}

TEST_F(ControlPlaneSourceTest, SkipsADeadFirstReplicaWithoutBackingOff) {
  ControlPlaneSource::Options options = WithLongBackoff(Options());
  // Nothing listens on the first address: refused at once.
  options.config.set_address(absl::StrCat("127.0.0.1:", PickFreeLoopbackPort()));
  options.config.add_addresses(front_->address());
  const absl::Time start = absl::Now();
  StartSource(std::move(options));
  ASSERT_TRUE(WaitFor([&] { return source_->status().connected; }, absl::Seconds(2)))
      << source_->status().last_error;
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(source_->status().address, front_->address());
  EXPECT_GE(source_->status().failed_attempts, 1u);
  // The first stream on the second replica is no failover: none was open before.
  EXPECT_EQ(Metric("palisade_identity_client_failovers_total"), 0);
}

TEST_F(ControlPlaneSourceTest, MovesToAnotherReplicaAtOnceWhenItsStreamBreaks) {
  const uint16_t second_port = PickFreeLoopbackPort();
  const std::string second = absl::StrCat("127.0.0.1:", second_port);
  ControlPlaneSource::Options options = WithLongBackoff(Options());
  options.config.add_addresses(second);
  StartSource(std::move(options));
  WaitForMtlsStream();
  const std::string first = front_->address();
  EXPECT_EQ(source_->status().address, first);
  const std::string serial = Serial();

  // The first replica dies; the second (same CA, same backend) is up.
  const size_t hellos = fake_->log().hellos.size();
  fake_->set_front(nullptr);
  front_.reset();
  const absl::Time killed = absl::Now();
  StartFront(pki_, second_port);
  ASSERT_TRUE(fake_->WaitFor([&](const Log& log) {
    return log.hellos.size() > hellos && log.hellos.back().peer_id == kWorkloadId;
  })) << source_->status().last_error;
  ASSERT_TRUE(WaitFor([&] { return source_->status().connected; }, absl::Seconds(2)));
  EXPECT_LT(absl::Now() - killed, absl::Seconds(2));
  EXPECT_EQ(source_->status().address, second);
  EXPECT_EQ(source_->status().failovers, 1u);
  EXPECT_EQ(Metric("palisade_identity_client_failovers_total"), 1);
  EXPECT_EQ(Serial(), serial);  // the same SVID, presented over mTLS

  // Renewals go on over the new stream.
  AdvanceClock(absl::Minutes(45));  // 1 h SVIDs renew at about half
  ASSERT_TRUE(WaitFor([&] { return Serial() != serial; }, absl::Seconds(10)));
}

TEST_F(ControlPlaneSourceTest, BacksOffOnlyAfterEveryReplicaFailed) {
  ControlPlaneSource::Options options = Options();  // 20 ms .. 200 ms
  options.config.set_address(absl::StrCat("127.0.0.1:", PickFreeLoopbackPort()));
  options.config.add_addresses(absl::StrCat("127.0.0.1:", PickFreeLoopbackPort()));
  StartSource(std::move(options));
  ASSERT_TRUE(WaitFor([&] { return source_->status().failed_attempts >= 6; }, absl::Seconds(10)));
  source_->Stop();
  // Two failures per round, one backoff wait per round: the log says so.
  int waits = 0, at_once = 0;
  std::string sample;
  for (const std::string& line : sink_->lines()) {
    if (line.find("control plane unavailable") == std::string::npos) continue;
    sample = line;
    // absl::FormatDuration(ZeroDuration()) is "0".
    (line.find("retry_in=0 ") != std::string::npos || line.find("retry_in=0\n") != std::string::npos
         ? at_once
         : waits)++;
  }
  SCOPED_TRACE(sample);
  EXPECT_GE(at_once, 3);
  EXPECT_GE(waits, 2);
  EXPECT_LE(at_once - waits, 1);
}

}  // namespace
}  // namespace palisade::identity_client::source_testing
