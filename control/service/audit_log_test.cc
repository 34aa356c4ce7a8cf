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

}  // namespace
}  // namespace palisade::control::service
