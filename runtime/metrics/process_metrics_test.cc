#include "runtime/metrics/process_metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>
#include <time.h>

#include <cstdio>
#include <map>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace palisade::metrics {
namespace {

using ::testing::HasSubstr;

std::map<std::string, double> Values() {
  std::map<std::string, double> values;
  for (const prometheus::MetricFamily& f : ProcessCollector().Collect()) {
    EXPECT_EQ(f.metric.size(), 1u) << f.name;
    values[f.name] = f.type == prometheus::MetricType::Counter ? f.metric[0].counter.value
                                                               : f.metric[0].gauge.value;
  }
  return values;
}

TEST(ProcessMetricsTest, ReportsPlausibleValues) {
  std::map<std::string, double> v = Values();
  EXPECT_GT(v["process_resident_memory_bytes"], 1 << 20);
  EXPECT_GE(v["process_virtual_memory_bytes"], v["process_resident_memory_bytes"]);
  EXPECT_GE(v["process_open_fds"], 3);  // at least stdin, stdout, stderr
  EXPECT_GE(v["process_max_fds"], v["process_open_fds"]);
  const double now = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
  EXPECT_LE(v["process_start_time_seconds"], now + 1);
  EXPECT_GT(v["process_start_time_seconds"], now - 300);
  EXPECT_GE(v["process_cpu_seconds_total"], 0);
}

TEST(ProcessMetricsTest, CountsCpuAndDescriptors) {
  std::map<std::string, double> before = Values();
  // Burn 0.2 s of CPU (a busy machine may take longer: at most 10 s of wall time).
  const auto cpu = [] {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return absl::DurationFromTimespec(t);
  };
  const absl::Duration start = cpu();
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  volatile uint64_t sink = 0;
  while (cpu() - start < absl::Milliseconds(200) && absl::Now() < deadline) {
    for (int i = 0; i < 100000; ++i) sink = sink + static_cast<uint64_t>(i);
  }
  FILE* f = std::fopen("/proc/self/stat", "r");
  ASSERT_NE(f, nullptr);
  std::map<std::string, double> after = Values();
  std::fclose(f);
  EXPECT_GT(after["process_cpu_seconds_total"], before["process_cpu_seconds_total"] + 0.1);
  EXPECT_EQ(after["process_open_fds"], before["process_open_fds"] + 1);
  EXPECT_EQ(after["process_start_time_seconds"], before["process_start_time_seconds"]);
}

TEST(ProcessMetricsTest, BuildInfoNamesVersionRevisionAndBoringSsl) {
  prometheus::Registry registry;
  AddBuildInfo(registry);
  const std::string text = prometheus::TextSerializer().Serialize(registry.Collect());
  EXPECT_THAT(text, HasSubstr("palisade_build_info{"));
  EXPECT_THAT(text, HasSubstr("version=\"0.1.0\""));
  // "unknown" unless built with --config=release (the git commit then).
  EXPECT_THAT(text, ::testing::ContainsRegex("revision=\"(unknown|[0-9a-f]{40}(-dirty)?)\""));
  EXPECT_THAT(text, HasSubstr("boringssl=\"api-"));
  EXPECT_THAT(text, HasSubstr("} 1"));
}

}  // namespace
}  // namespace palisade::metrics
