// What both binaries' /metrics carry besides their own series:
//   palisade_build_info{version,revision,boringssl} 1
//   process_cpu_seconds_total, process_resident_memory_bytes,
//   process_virtual_memory_bytes, process_open_fds, process_max_fds,
//   process_start_time_seconds
// The process metrics follow the Prometheus client conventions (names, types,
// units), so stock dashboards and alerts work on them. prometheus-cpp (the
// Debian build) has no process collector: these read /proc/self at scrape time.
#ifndef PALISADE_RUNTIME_METRICS_PROCESS_METRICS_H_
#define PALISADE_RUNTIME_METRICS_PROCESS_METRICS_H_

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <string>
#include <vector>

namespace palisade::metrics {

// The build's git commit when the build stamps one; "unknown" otherwise.
inline constexpr char kRevision[] = "unknown";

// The BoringSSL this binary was built with, as "api-N" (BORINGSSL_API_VERSION:
// BoringSSL has no release numbers).
std::string BoringSslVersion();

// Adds palisade_build_info (always 1) to `registry`.
void AddBuildInfo(prometheus::Registry& registry);

// The process_* families, read from /proc/self on each Collect (a few small
// reads per scrape). A family that cannot be read is left out.
class ProcessCollector final : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override;
};

}  // namespace palisade::metrics

#endif  // PALISADE_RUNTIME_METRICS_PROCESS_METRICS_H_
