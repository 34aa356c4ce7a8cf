// One workload floods palisade-control with CSRs over its renewal streams:
// the CA signs only what the per-identity limiter allows, refusals are
// RESOURCE_EXHAUSTED, counted and audited (a bounded number of lines), another
// identity still gets its certificate at once, and the control plane's memory
// and registry file stay bounded.
#include <grpc/grpc.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/integration/identity_stream.h"
#include "tests/util/process.h"
#include "tests/util/prometheus_text.h"

namespace palisade::testing {
namespace {

using control::v1::WatchRequest;
using control::v1::WatchResponse;

// Under ASan freed memory sits in its quarantine (up to 256 MiB), so RSS
// says nothing about what the server keeps; the plain build checks it.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PALISADE_ASAN 1
#endif
#endif

constexpr char kFlooder[] = "spiffe://example.org/ns/shop/sa/flooder";
constexpr char kBystander[] = "spiffe://example.org/ns/shop/sa/cart";
constexpr absl::Duration kFloodTime = absl::Seconds(5);
// The documented defaults: a burst of 16, then 64 per --svid_ttl (1h).
constexpr int kDefaultBurst = 16;
constexpr int kMaxCsrsPerStream = 200000;  // a bound on the loop, never reached in 5 s

double RssMiB(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return -1;
}

int64_t FileSize(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : -1;
}

// What one flood stream got back.
struct StreamTally {
  int signed_certificates = 0;
  grpc::Status status;
};

class ControlIssuanceFloodTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // gRPC stays initialised for the whole test: otherwise each flood stream's
    // end shuts the library down, and a shutdown that waits (up to 10 s) for
    // its last objects blocks the bystander's next channel in this process.
    grpc_init();
    dir_ = MakeTempDir("issuance");
    auto control = ControlProcess::Start(dir_);
    ASSERT_TRUE(control.ok()) << control.status();
    control_ = *std::move(control);
  }

  void TearDown() override {
    if (control_ != nullptr && control_->process().Running()) {
      EXPECT_EQ(control_->process().Stop(), 0) << control_->process().Output();
    }
    grpc_shutdown();
  }

  Svid Bootstrap(const std::string& id) {
    absl::StatusOr<nlohmann::json> token = control_->CreateJoinToken(id);
    EXPECT_TRUE(token.ok()) << token.status();
    auto stream = IdentityStream::Open(*control_);
    EXPECT_TRUE(stream.ok()) << stream.status();
    bssl::UniquePtr<EVP_PKEY> key;
    (*stream)->Write(HelloRequest((*token)["token"].get<std::string>()));
    (*stream)->Write(CsrRequest(id, &key));
    std::vector<WatchResponse> responses;
    const grpc::Status status = (*stream)->Drain(&responses);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(responses.size(), 2u);
    return SvidFrom(responses.back(), std::move(key));
  }

  // One renewal stream authenticated by `svid` that sends the same CSR as
  // fast as it can until `until`, while a reader counts the SVIDs.
  StreamTally FloodOneStream(const Svid& svid, absl::Time until) {
    StreamTally tally;
    auto stream = IdentityStream::Open(*control_, &svid);
    if (!stream.ok()) {
      tally.status =
          grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(stream.status().message()));
      return tally;
    }
    bssl::UniquePtr<EVP_PKEY> key;
    WatchRequest csr = CsrRequest(kFlooder, &key);
    std::atomic<bool> ended{false};
    std::thread reader([&] {
      WatchResponse response;
      while ((*stream)->Read(&response)) {
        if (response.has_svid()) ++tally.signed_certificates;
      }
      ended = true;
    });
    bool open = (*stream)->Write(HelloRequest());
    for (int i = 0; open && !ended && i < kMaxCsrsPerStream && absl::Now() < until; ++i) {
      csr.mutable_csr()->set_request_id(i + 1);
      open = (*stream)->Write(csr);
    }
    (*stream)->CloseWrites();
    reader.join();
    tally.status = (*stream)->Drain();
    return tally;
  }

  // Audit lines with `reason`, parsed.
  std::vector<nlohmann::json> AuditLines(const std::string& reason) {
    std::vector<nlohmann::json> out;
    for (absl::string_view line : absl::StrSplit(
             ReadFileOrEmpty(control_->state_dir() + "/audit.log"), '\n', absl::SkipEmpty())) {
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_discarded() && j.value("reason", "") == reason) out.push_back(j);
    }
    return out;
  }

  // The certificates listed in workloads.json (-1 if unreadable).
  int RegistryCertificates() {
    nlohmann::json doc = nlohmann::json::parse(
        ReadFileOrEmpty(control_->state_dir() + "/workloads.json"), nullptr, false);
    if (doc.is_discarded() || !doc.contains("certificates")) return -1;
    return static_cast<int>(doc["certificates"].size());
  }

  std::string dir_;
  std::unique_ptr<ControlProcess> control_;
};

TEST_F(ControlIssuanceFloodTest, OneIdentityFloodingCsrsIsLimitedAndOthersStillGetCertificates) {
  const Svid flooder = Bootstrap(kFlooder);
  const Svid bystander = Bootstrap(kBystander);
  // The refusal series exist from the start, so increase() sees the first.
  const std::string metrics_before = HttpGet(control_->admin_url() + "/metrics").body;
  EXPECT_EQ(MetricValue(metrics_before, "palisade_control_refusals_total",
                        {{"reason", "issuance_rate_limited"}}),
            0.0);
  EXPECT_EQ(MetricValue(metrics_before, "palisade_control_refusals_total",
                        {{"reason", "unexpired_certificates_cap"}}),
            0.0);
  const pid_t pid = control_->process().pid();
  const double rss_before = RssMiB(pid);

  // The bystander renews halfway through the flood, on its own stream.
  std::atomic<bool> bystander_ok{false};
  absl::Duration bystander_wait = absl::InfiniteDuration();
  absl::Duration bystander_opened = absl::InfiniteDuration();
  std::thread bystander_thread([&] {
    absl::SleepFor(kFloodTime / 2);
    const absl::Time asked = absl::Now();
    auto stream = IdentityStream::Open(*control_, &bystander);
    if (!stream.ok()) return;
    bystander_opened = absl::Now() - asked;
    bssl::UniquePtr<EVP_PKEY> key;
    (*stream)->Write(HelloRequest());
    (*stream)->Write(CsrRequest(kBystander, &key));
    WatchResponse response;
    while ((*stream)->Read(&response)) {
      if (response.has_svid()) {
        bystander_wait = absl::Now() - asked;
        bystander_ok = true;
        break;
      }
    }
    (*stream)->CloseWrites();
    (*stream)->Drain();
  });

  // The flood: a refused stream ends, so the flooder reconnects and goes on.
  const absl::Time until = absl::Now() + kFloodTime;
  int signed_certificates = 0;
  int streams = 0;
  int resource_exhausted = 0;
  std::string refusal_message;
  while (absl::Now() < until && streams < 10000) {
    const StreamTally tally = FloodOneStream(flooder, until);
    ++streams;
    signed_certificates += tally.signed_certificates;
    if (tally.status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++resource_exhausted;
      refusal_message = tally.status.error_message();
    }
  }
  bystander_thread.join();
  const double rss_after = RssMiB(pid);

  // The registry is written every 5 s: wait for the flood's last issuance.
  const int expected = signed_certificates + 3;  // two bootstraps, one bystander renewal
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (RegistryCertificates() < expected && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  const int64_t registry_bytes = FileSize(control_->state_dir() + "/workloads.json");
  const std::string metrics = HttpGet(control_->admin_url() + "/metrics").body;
  const double refusals_counted =
      MetricSum(metrics, "palisade_control_refusals_total", {{"reason", "issuance_rate_limited"}}) +
      MetricSum(metrics, "palisade_control_refusals_total",
                {{"reason", "unexpired_certificates_cap"}});
  const std::vector<nlohmann::json> refusal_lines = AuditLines("issuance_rate_limited");
  const size_t audit_lines = refusal_lines.size();

  std::printf(
      "flood of %s: %d certificates signed on %d streams, %d ended RESOURCE_EXHAUSTED; "
      "refusals counted %.0f, audit lines %zu; bystander %s after %s (connected after %s); control "
      "RSS %.1f -> "
      "%.1f MiB; workloads.json %lld bytes (%d certificates); audit.log %lld bytes\n",
      absl::FormatDuration(kFloodTime).c_str(), signed_certificates, streams, resource_exhausted,
      refusals_counted, audit_lines, bystander_ok ? "renewed" : "NOT renewed",
      absl::FormatDuration(absl::Trunc(bystander_wait, absl::Milliseconds(1))).c_str(),
      absl::FormatDuration(absl::Trunc(bystander_opened, absl::Milliseconds(1))).c_str(),
      rss_before, rss_after, static_cast<long long>(registry_bytes), RegistryCertificates(),
      static_cast<long long>(FileSize(control_->state_dir() + "/audit.log")));

  // Bounded by the burst, plus what 5 s of refill adds at the default rate (none).
  EXPECT_LE(signed_certificates, kDefaultBurst + 1);
  EXPECT_GE(signed_certificates, 1);
  EXPECT_GT(resource_exhausted, 0);
  EXPECT_NE(refusal_message.find("rate limit"), std::string::npos) << refusal_message;
  EXPECT_NE(refusal_message.find("retry in"), std::string::npos) << refusal_message;
  EXPECT_GE(refusals_counted, resource_exhausted);
  // One line, then the rest counted in a later line's "suppressed".
  EXPECT_GE(audit_lines, 1u);
  EXPECT_LE(audit_lines, 3u);
  if (!refusal_lines.empty()) {
    EXPECT_EQ(refusal_lines[0]["spiffe_id"], kFlooder);
    EXPECT_EQ(refusal_lines[0]["result"], "RESOURCE_EXHAUSTED");
  }
  EXPECT_TRUE(bystander_ok);
  EXPECT_LT(bystander_wait, absl::Seconds(3));
#ifndef PALISADE_ASAN
  EXPECT_LT(rss_after - rss_before, 32.0);
#endif
  EXPECT_LT(registry_bytes, 64 * 1024);
}

}  // namespace
}  // namespace palisade::testing
