// Reading samples out of Prometheus text output (a proxy's /metrics), so tests
// can assert on counters and gauges by name and labels.
#ifndef PALISADE_TESTS_UTIL_PROMETHEUS_TEXT_H_
#define PALISADE_TESTS_UTIL_PROMETHEUS_TEXT_H_

#include <map>
#include <optional>
#include <string>

namespace palisade::testing {

// The value of the first sample of `name` whose labels include all of
// `labels`; nullopt when absent.
std::optional<double> MetricValue(const std::string& text, const std::string& name,
                                  const std::map<std::string, std::string>& labels = {});
// The sum over all samples of `name` matching `labels`.
double MetricSum(const std::string& text, const std::string& name,
                 const std::map<std::string, std::string>& labels = {});

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_UTIL_PROMETHEUS_TEXT_H_
