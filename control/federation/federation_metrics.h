// The federation's Prometheus metrics (palisade_control_federat*), in a
// registry of their own whose text follows the control plane's:
// refreshes by trust domain and result (every result at 0 from the start),
// and per domain the bundle's age, sequence and roots.
#ifndef PALISADE_CONTROL_FEDERATION_FEDERATION_METRICS_H_
#define PALISADE_CONTROL_FEDERATION_FEDERATION_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "control/federation/federated_bundles.h"

namespace palisade::control::federation {

// Thread-safe (prometheus-cpp metrics are).
class FederationMetrics {
 public:
  explicit FederationMetrics(const std::vector<std::string>& trust_domains);
  void OnRefresh(const std::string& trust_domain, const std::string& result);
  // The gauges from the domains' status at `now` (before a scrape).
  std::string Serialize(const std::vector<DomainStatus>& domains, absl::Time now);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& refreshes_;
  prometheus::Family<prometheus::Gauge>& age_;
  prometheus::Family<prometheus::Gauge>& sequence_;
  prometheus::Family<prometheus::Gauge>& roots_;
};

}  // namespace palisade::control::federation

#endif  // PALISADE_CONTROL_FEDERATION_FEDERATION_METRICS_H_
