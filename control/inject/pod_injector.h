// The one place that decides what joining the mesh adds to a pod: the capture
// init container, the proxy as a native sidecar, the identity volume and the
// annotations. The manifest injector applies the result to YAML; the admission
// webhook turns the same result into a JSONPatch, so both make the same pod.
#ifndef PALISADE_CONTROL_INJECT_POD_INJECTOR_H_
#define PALISADE_CONTROL_INJECT_POD_INJECTOR_H_

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "control/inject/inject_options.h"

namespace palisade::inject {

// Insertion-ordered, so untouched fields keep their order.
using Json = nlohmann::ordered_json;

// What injection adds; nothing is removed or overwritten.
struct PodMutation {
  Json init_containers = Json::array();  // put first, in this order
  Json volumes = Json::array();          // appended
  Json annotations = Json::object();     // keys the pod does not have yet
};

struct InjectPlan {
  bool inject = false;
  std::string skip_reason;  // when !inject: why the pod is left alone
  PodMutation mutation;
  // Things that will not work as the author may expect (a probe the capture
  // would refuse, ...). The CLI prints them; the webhook returns them.
  std::vector<std::string> warnings;
};

// Immutable after Create; safe to share between threads.
class PodInjector {
 public:
  // InvalidArgument when the options cannot make a valid pod.
  static absl::StatusOr<PodInjector> Create(const InjectOptions& options);

  // Plans injection into a pod (or a pod template) given its metadata (may
  // be null) and PodSpec. `owner_metadata` is the workload's own metadata
  // (e.g. a Deployment's), whose opt-out also counts; null for a Pod.
  // InvalidArgument, naming the field, for a pod that cannot be injected.
  absl::StatusOr<InjectPlan> Plan(const Json& metadata, const Json& spec,
                                  const Json& owner_metadata = Json()) const;

  // Applies `mutation` to an object with "metadata" and "spec" (a Pod or a
  // pod template), which Plan accepted.
  static void Apply(const PodMutation& mutation, Json* pod);

  // The RFC 6902 operations that make the same change to `pod`.
  static Json ToJsonPatch(const PodMutation& mutation, const Json& pod);

  const InjectOptions& options() const { return options_; }

 private:
  explicit PodInjector(InjectOptions options) : options_(std::move(options)) {}

  Json CaptureContainer(const std::vector<int>& exclude_inbound,
                        const std::vector<int>& exclude_outbound,
                        const std::vector<std::string>& exclude_cidrs) const;
  Json ProxyContainer() const;
  Json IdentityVolume() const;

  InjectOptions options_;
};

}  // namespace palisade::inject

#endif  // PALISADE_CONTROL_INJECT_POD_INJECTOR_H_
