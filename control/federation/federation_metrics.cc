#include "control/federation/federation_metrics.h"

#include <prometheus/text_serializer.h>

#include "control/federation/bundle_acceptance.h"

namespace palisade::control::federation {

FederationMetrics::FederationMetrics(const std::vector<std::string>& trust_domains)
    : registry_(std::make_shared<prometheus::Registry>()),
      refreshes_(prometheus::BuildCounter()
                     .Name("palisade_control_federation_refreshes_total")
                     .Help("Fetches of a federated trust domain's SPIFFE bundle endpoint, by "
                           "result (anything but ok kept the last good bundle).")
                     .Register(*registry_)),
      age_(prometheus::BuildGauge()
               .Name("palisade_control_federated_bundle_age_seconds")
               .Help("Time since a federated trust domain's bundle was last fetched good "
                     "(never fetched: since this start).")
               .Register(*registry_)),
      sequence_(prometheus::BuildGauge()
                    .Name("palisade_control_federated_bundle_sequence")
                    .Help("The spiffe_sequence of a federated trust domain's bundle in use "
                          "(-1: none).")
                    .Register(*registry_)),
      roots_(prometheus::BuildGauge()
                 .Name("palisade_control_federated_bundle_roots")
                 .Help("X.509 authorities in a federated trust domain's bundle in use.")
                 .Register(*registry_)) {
  for (const std::string& td : trust_domains) {
    for (const char* result : kRefreshResults) {
      refreshes_.Add({{"trust_domain", td}, {"result", result}});
    }
  }
}

void FederationMetrics::OnRefresh(const std::string& trust_domain, const std::string& result) {
  refreshes_.Add({{"trust_domain", trust_domain}, {"result", result}}).Increment();
}

std::string FederationMetrics::Serialize(const std::vector<DomainStatus>& domains, absl::Time now) {
  for (const DomainStatus& d : domains) {
    const prometheus::Labels labels = {{"trust_domain", d.trust_domain}};
    age_.Add(labels).Set(absl::ToDoubleSeconds(now - d.last_success));
    sequence_.Add(labels).Set(d.sequence.has_value() ? static_cast<double>(*d.sequence) : -1.0);
    roots_.Add(labels).Set(static_cast<double>(d.roots));
  }
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace palisade::control::federation
