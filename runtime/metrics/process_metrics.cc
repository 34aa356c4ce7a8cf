#include "runtime/metrics/process_metrics.h"

#include <dirent.h>
#include <openssl/base.h>
#include <prometheus/gauge.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "runtime/version.h"

namespace palisade::metrics {
namespace {

prometheus::MetricFamily Family(const char* name, const char* help, prometheus::MetricType type,
                                double value) {
  prometheus::MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = type;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
  return family;
}

std::string ReadAll(const char* path) {
  std::ifstream in(path);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// Seconds since the epoch at which the system booted (/proc/stat btime); 0 if unknown.
double BootTime() {
  std::ifstream in("/proc/stat");
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view rest = line;
    double btime = 0;
    if (absl::ConsumePrefix(&rest, "btime ") && absl::SimpleAtod(rest, &btime)) return btime;
  }
  return 0;
}

size_t OpenFds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  size_t n = 0;
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(dir);
  return n > 0 ? n - 1 : 0;  // not the one opendir holds
}

}  // namespace

std::string BoringSslVersion() { return absl::StrCat("api-", BORINGSSL_API_VERSION); }

void AddBuildInfo(prometheus::Registry& registry) {
  prometheus::BuildGauge()
      .Name("palisade_build_info")
      .Help(
          "The build: release version, git revision (\"unknown\" when not stamped) and "
          "BoringSSL API version as labels; always 1")
      .Register(registry)
      .Add({{"version", kVersion}, {"revision", kRevision}, {"boringssl", BoringSslVersion()}})
      .Set(1);
}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> families;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));

  // /proc/self/stat: the fields after "(comm)", which may hold spaces.
  const std::string stat = ReadAll("/proc/self/stat");
  if (const size_t paren = stat.rfind(')'); paren != std::string::npos && ticks > 0) {
    // fields[0] is field 3 (state): utime is 14, stime 15, starttime 22.
    std::vector<absl::string_view> fields =
        absl::StrSplit(absl::string_view(stat).substr(paren + 1), ' ', absl::SkipEmpty());
    double utime = 0, stime = 0, start = 0;
    if (fields.size() > 19 && absl::SimpleAtod(fields[11], &utime) &&
        absl::SimpleAtod(fields[12], &stime) && absl::SimpleAtod(fields[19], &start)) {
      families.push_back(Family("process_cpu_seconds_total",
                                "Total user and system CPU time spent in seconds.",
                                MetricType::Counter, (utime + stime) / ticks));
      if (const double boot = BootTime(); boot > 0) {
        families.push_back(Family("process_start_time_seconds",
                                  "Start time of the process since unix epoch in seconds.",
                                  MetricType::Gauge, boot + start / ticks));
      }
    }
  }
  // /proc/self/statm: size and resident, in pages.
  std::vector<absl::string_view> statm;
  const std::string statm_text = ReadAll("/proc/self/statm");
  statm = absl::StrSplit(statm_text, ' ', absl::SkipEmpty());
  double size = 0, resident = 0;
  if (statm.size() >= 2 && absl::SimpleAtod(statm[0], &size) &&
      absl::SimpleAtod(statm[1], &resident)) {
    families.push_back(Family("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                              MetricType::Gauge, size * page));
    families.push_back(Family("process_resident_memory_bytes", "Resident memory size in bytes.",
                              MetricType::Gauge, resident * page));
  }
  families.push_back(Family("process_open_fds", "Number of open file descriptors.",
                            MetricType::Gauge, static_cast<double>(OpenFds())));
  rlimit files;
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
    families.push_back(Family("process_max_fds", "Maximum number of open file descriptors.",
                              MetricType::Gauge, static_cast<double>(files.rlim_cur)));
  }
  return families;
}

}  // namespace palisade::metrics
