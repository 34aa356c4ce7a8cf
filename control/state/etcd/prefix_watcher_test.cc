// PrefixWatcher against a real one-member etcd on loopback: a watcher that
// fell behind (its callback held while 400 writes were made) catches up in a
// few callbacks, not one per write, and the revision it hands on is the one
// the delivered records reflect.
#include "control/state/etcd/prefix_watcher.h"

#include <gtest/gtest.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "runtime/sync/mutex.h"
#include "tests/util/etcd_cluster.h"
#include "tests/util/process.h"
#include "tests/util/status_matchers.h"

namespace palisade::control::state::etcd {
namespace {

constexpr char kPrefix[] = "/watched/";
constexpr int kBacklogWrites = 400;

// What the watcher has handed on so far.
struct Delivered {
  sync::Mutex mu;
  int calls ABSL_GUARDED_BY(mu) = 0;
  size_t records ABSL_GUARDED_BY(mu) = 0;
  int64_t revision ABSL_GUARDED_BY(mu) = 0;
  bool consistent ABSL_GUARDED_BY(mu) = true;  // no record newer than `revision`
};

TEST(PrefixWatcherTest, ABacklogIsCaughtUpInFewCallbacksAtTheRevisionItReflects) {
  ASSERT_OK_AND_ASSIGN(auto cluster, palisade::testing::EtcdCluster::Start(
                                         palisade::testing::MakeTempDir("prefix-watcher"), 1));
  auto client = [&] {
    auto c = EtcdClient::Create({{cluster->Endpoints()}, absl::Seconds(5)});
    EXPECT_OK(c.status());
    return c.ok() ? *std::move(c) : nullptr;
  };
  std::unique_ptr<EtcdClient> writer = client();
  ASSERT_NE(writer, nullptr);
  Delivered delivered;
  // The callback that brings the first write holds until `release`, as a
  // paused replica or a slow consumer would.
  sync::Notification holding;
  sync::Notification release;
  PrefixWatcher watcher(client(), kPrefix,
                        [&](const std::vector<StoredRecord>& records, int64_t revision) {
                          bool hold = false;
                          {
                            sync::MutexLock lock(&delivered.mu);
                            ++delivered.calls;
                            delivered.records = records.size();
                            delivered.revision = revision;
                            for (const StoredRecord& r : records) {
                              if (r.revision > revision) delivered.consistent = false;
                            }
                            hold = records.size() == 1 && !holding.HasBeenNotified();
                          }
                          if (hold) {
                            holding.Notify();
                            release.WaitForNotificationWithTimeout(absl::Seconds(60));
                          }
                        });
  watcher.Start();
  ASSERT_TRUE(palisade::testing::WaitFor([&] { return watcher.Problem().empty(); },
                                         absl::Seconds(10), absl::Milliseconds(20)));
  ASSERT_OK_AND_ASSIGN(bool first, writer->PutIf(absl::StrCat(kPrefix, "first"), "v", 0));
  ASSERT_TRUE(first);
  ASSERT_TRUE(holding.WaitForNotificationWithTimeout(absl::Seconds(10)));
  int64_t last_revision = 0;
  for (int i = 0; i < kBacklogWrites; ++i) {
    ASSERT_OK_AND_ASSIGN(bool put, writer->PutIf(absl::StrFormat("%sk%04d", kPrefix, i),
                                                 absl::StrCat("value ", i), 0, &last_revision));
    ASSERT_TRUE(put);
  }
  int calls_before;
  {
    sync::MutexLock lock(&delivered.mu);
    calls_before = delivered.calls;
  }
  const absl::Time released = absl::Now();
  release.Notify();
  const bool caught_up = palisade::testing::WaitFor(
      [&] {
        sync::MutexLock lock(&delivered.mu);
        return delivered.records == kBacklogWrites + 1u && delivered.revision >= last_revision;
      },
      absl::Seconds(60), absl::Milliseconds(5));
  const absl::Duration took = absl::Now() - released;
  sync::MutexLock lock(&delivered.mu);
  const int calls = delivered.calls - calls_before;
  std::cout << kBacklogWrites << "-write backlog caught up in " << absl::FormatDuration(took)
            << " with " << calls << " callbacks\n";
  ASSERT_TRUE(caught_up) << delivered.records << " records at revision " << delivered.revision
                         << ", want " << kBacklogWrites + 1 << " at " << last_revision;
  EXPECT_TRUE(delivered.consistent) << "a record newer than the revision handed on with it";
  // One per write was 400; everything received while the callback was held
  // comes in one, and the rest in a few more.
  EXPECT_LE(calls, 10);
}

}  // namespace
}  // namespace palisade::control::state::etcd
