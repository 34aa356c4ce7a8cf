#include "control/service/workload_registry.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "control/state/state_files.h"
#include "gtest/gtest.h"
#include "tests/util/status_matchers.h"

namespace palisade::control::service {
namespace {

using ::palisade::testing::StatusIs;

std::string TempPath() {
  const char* base = std::getenv("TEST_TMPDIR");
  static int counter = 0;
  return absl::StrCat(base != nullptr ? base : "/tmp", "/workloads-", counter++, ".json");
}

IssuedCertificate Cert(const std::string& serial, absl::Time now, bool renewal) {
  IssuedCertificate c;
  c.serial = serial;
  c.spiffe_id = "spiffe://td/a";
  c.instance = "pod-1";
  c.lineage = "join_token:jt-1";
  c.not_before = now;
  c.not_after = now + absl::Hours(1);
  c.issued_at = now;
  c.renewal = renewal;
  return c;
}

TEST(WorkloadRegistryTest, DeregistrationIsDurableAndReversible) {
  const std::string path = TempPath();
  {
    ASSERT_OK_AND_ASSIGN(auto registry, WorkloadRegistry::Open(path));
    ASSERT_OK_AND_ASSIGN(bool changed, registry->Deregister("spiffe://td/a", absl::Now()));
    EXPECT_TRUE(changed);
    EXPECT_TRUE(registry->IsDeregistered("spiffe://td/a"));
    EXPECT_FALSE(registry->IsDeregistered("spiffe://td/b"));
  }
  ASSERT_OK_AND_ASSIGN(auto reopened, WorkloadRegistry::Open(path));
  EXPECT_TRUE(reopened->IsDeregistered("spiffe://td/a"));
  ASSERT_OK_AND_ASSIGN(bool was, reopened->Reregister("spiffe://td/a"));
  EXPECT_TRUE(was);
  EXPECT_FALSE(reopened->IsDeregistered("spiffe://td/a"));
}

TEST(WorkloadRegistryTest, RemembersLineageOfIssuedCertificatesAcrossAFlushedRestart) {
  const std::string path = TempPath();
  const absl::Time now = absl::Now();
  {
    ASSERT_OK_AND_ASSIGN(auto registry, WorkloadRegistry::Open(path));
    registry->RecordIssuance(Cert("01", now, false));
    registry->RecordIssuance(Cert("02", now, true));
    EXPECT_EQ(registry->LineageOf("02"), "join_token:jt-1");
    ASSERT_OK(registry->Flush(now));
  }
  ASSERT_OK_AND_ASSIGN(auto reopened, WorkloadRegistry::Open(path));
  EXPECT_EQ(reopened->LineageOf("01"), "join_token:jt-1");
  ASSERT_EQ(reopened->Workloads().size(), 1u);
  EXPECT_EQ(reopened->Workloads()[0].renewals, 1u);
  EXPECT_FALSE(reopened->LineageOf("99").has_value());
}

TEST(WorkloadRegistryTest, FlushForgetsExpiredCertificates) {
  ASSERT_OK_AND_ASSIGN(auto registry, WorkloadRegistry::Open(""));
  const absl::Time now = absl::Now();
  registry->RecordIssuance(Cert("01", now, false));
  ASSERT_OK(registry->Flush(now + absl::Hours(2)));
  EXPECT_FALSE(registry->LineageOf("01").has_value());
  EXPECT_EQ(registry->Workloads().size(), 1u);  // kept a day for the overview
  ASSERT_OK(registry->Flush(now + absl::Hours(26)));
  EXPECT_TRUE(registry->Workloads().empty());
}

TEST(WorkloadRegistryTest, CountsTheUnexpiredCertificatesOfEachIdentity) {
  ASSERT_OK_AND_ASSIGN(auto registry, WorkloadRegistry::Open(""));
  const absl::Time now = absl::Now();
  for (int i = 0; i < 5; ++i) {
    registry->RecordIssuance(Cert(absl::StrCat("0", i), now + absl::Minutes(i), true));
  }
  IssuedCertificate other = Cert("99", now, false);
  other.spiffe_id = "spiffe://td/b";
  registry->RecordIssuance(other);
  WorkloadRegistry::Unexpired a = registry->UnexpiredOf("spiffe://td/a", now);
  EXPECT_EQ(a.count, 5u);
  EXPECT_EQ(a.earliest_not_after, now + absl::Hours(1));
  // Two have expired 61 minutes on, whether or not a flush has pruned them.
  a = registry->UnexpiredOf("spiffe://td/a", now + absl::Minutes(61) + absl::Seconds(1));
  EXPECT_EQ(a.count, 3u);
  EXPECT_EQ(a.earliest_not_after, now + absl::Minutes(62));
  ASSERT_OK(registry->Flush(now + absl::Hours(3)));
  EXPECT_EQ(registry->UnexpiredOf("spiffe://td/a", now).count, 0u);
  EXPECT_EQ(registry->UnexpiredOf("spiffe://td/nobody", now).count, 0u);
}

// Instance names are the proxy's to choose: a proxy that makes up a new one
// per stream must not grow the workload records without bound.
TEST(WorkloadRegistryTest, KeepsAtMostTheLimitOfInstancesPerIdentity) {
  ASSERT_OK_AND_ASSIGN(auto registry, WorkloadRegistry::Open("", /*max_instances_per_identity=*/3));
  const absl::Time now = absl::Now();
  for (int i = 0; i < 10; ++i) {
    IssuedCertificate c = Cert(absl::StrCat("a", i), now + absl::Seconds(i), false);
    c.instance = absl::StrCat("made-up-", i);
    registry->RecordIssuance(c);
  }
  IssuedCertificate other = Cert("b0", now, false);
  other.spiffe_id = "spiffe://td/b";
  registry->RecordIssuance(other);
  std::vector<std::string> instances;
  for (const WorkloadRecord& w : registry->Workloads()) instances.push_back(w.latest.instance);
  EXPECT_EQ(instances, (std::vector<std::string>{"made-up-7", "made-up-8", "made-up-9", "pod-1"}));
}

TEST(WorkloadRegistryTest, RefusesACorruptFile) {
  const std::string path = TempPath();
  ASSERT_OK(state::WriteFileAtomically(
      path, "{\"deregistered\": {}, \"certificates\": [{\"serial\": 5}]}", 0600));
  EXPECT_THAT(WorkloadRegistry::Open(path),
              StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::HasSubstr(path)));
  ASSERT_OK(state::WriteFileAtomically(path, "{", 0600));
  EXPECT_THAT(WorkloadRegistry::Open(path), StatusIs(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace palisade::control::service
