#include "control/service/audit_log.h"

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "control/state/state_files.h"
#include "gtest/gtest.h"
#include "tests/util/status_matchers.h"

namespace palisade::control::service {
namespace {

TEST(AuditLogTest, WritesOneJsonLinePerEventWithTheRequiredFields) {
  const char* base = std::getenv("TEST_TMPDIR");
  const std::string path = absl::StrCat(base != nullptr ? base : "/tmp", "/audit.log");
  ASSERT_OK_AND_ASSIGN(auto audit, AuditLog::Open(path));
  AuditEvent issued{absl::FromUnixSeconds(1'700'000'000),
                    "issued",
                    "spiffe://td/a",
                    "0a",
                    absl::FromUnixSeconds(1'700'003'600),
                    "pod-1",
                    "ok",
                    "bootstrap_join_token"};
  AuditEvent refused{absl::FromUnixSeconds(1'700'000'001),
                     "refused",
                     "spiffe://td/b",
                     "",
                     absl::InfinitePast(),
                     "pod-2\n\"x",
                     "PERMISSION_DENIED",
                     "wrong_identity",
                     "CSR asks for another identity"};
  audit->Record(issued);
  audit->Record(refused);
  const std::vector<std::string> lines =
      absl::StrSplit(*state::ReadStateFile(path), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u);
  const nlohmann::json first = nlohmann::json::parse(lines[0]);
  for (const char* field :
       {"time", "spiffe_id", "serial", "not_after", "instance", "result", "reason"}) {
    EXPECT_TRUE(first.contains(field)) << field;
  }
  EXPECT_EQ(first["time"], "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(first["not_after"], "2023-11-14T23:13:20.000Z");
  const nlohmann::json second = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(second["reason"], "wrong_identity");
  EXPECT_EQ(second["instance"], "pod-2\n\"x");  // escaped, still one line
  EXPECT_TRUE(second["not_after"].is_null());
}

TEST(AuditLogTest, KeepsOnlyTheMostRecentEventsInMemory) {
  ASSERT_OK_AND_ASSIGN(auto audit, AuditLog::Open("", 3));
  for (int i = 0; i < 5; ++i) {
    AuditEvent e;
    e.event = "issued";
    e.serial = std::to_string(i);
    audit->Record(e);
  }
  const std::vector<AuditEvent> recent = audit->Recent();
  ASSERT_EQ(recent.size(), 3u);
  EXPECT_EQ(recent.front().serial, "2");
  EXPECT_EQ(recent.back().serial, "4");
}

// Issue 19, item 7: one retrying proxy is one row with a count, and its
// refusals push no issuance out of view.
TEST(AuditLogTest, FoldsRefusalsByIdentityAndReasonAndKeepsIssuancesApart) {
  ASSERT_OK_AND_ASSIGN(auto audit, AuditLog::Open("", 5, 2));
  const absl::Time t0 = absl::FromUnixSeconds(1700000000);
  AuditEvent issued;
  issued.event = "issued";
  issued.serial = "aa";
  issued.time = t0;
  audit->Record(issued);
  for (int i = 0; i < 20; ++i) {
    AuditEvent e;
    e.event = "refused";
    e.spiffe_id = "spiffe://td/retrying";
    e.reason = "deregistered";
    e.time = t0 + absl::Seconds(i);
    audit->Record(e);
  }
  AuditEvent throttled;  // a written line standing for itself and 4 more
  throttled.event = "refused";
  throttled.spiffe_id = "spiffe://td/other";
  throttled.reason = "issuance_rate_limited";
  throttled.time = t0 + absl::Seconds(30);
  throttled.suppressed = 4;
  audit->Record(throttled);
  AuditEvent sweep = throttled;  // a sweep: only the 3 it stands for
  sweep.summary = true;
  sweep.suppressed = 3;
  sweep.time = t0 + absl::Seconds(31);
  audit->Record(sweep);

  const std::vector<RefusalCount> refusals = audit->Refusals();
  ASSERT_EQ(refusals.size(), 2u);
  EXPECT_EQ(refusals[0].spiffe_id, "spiffe://td/other");
  EXPECT_EQ(refusals[0].count, 8u);
  EXPECT_EQ(refusals[1].spiffe_id, "spiffe://td/retrying");
  EXPECT_EQ(refusals[1].reason, "deregistered");
  EXPECT_EQ(refusals[1].count, 20u);
  EXPECT_EQ(refusals[1].first, t0);
  EXPECT_EQ(refusals[1].last, t0 + absl::Seconds(19));
  ASSERT_EQ(audit->RecentIssuances().size(), 1u);
  EXPECT_EQ(audit->RecentIssuances()[0].serial, "aa");

  // At the key cap, the least recently refused pair goes.
  AuditEvent third = throttled;
  third.spiffe_id = "spiffe://td/third";
  third.suppressed = 0;
  third.time = t0 + absl::Seconds(40);
  audit->Record(third);
  const std::vector<RefusalCount> capped = audit->Refusals();
  ASSERT_EQ(capped.size(), 2u);
  EXPECT_EQ(capped[0].spiffe_id, "spiffe://td/third");
  EXPECT_EQ(capped[1].spiffe_id, "spiffe://td/other");
}

}  // namespace
}  // namespace palisade::control::service
