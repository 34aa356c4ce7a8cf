// Sidecar injection into Kubernetes YAML, for `palisade-control inject`:
// Pods, and the pod templates of Deployments, StatefulSets, DaemonSets,
// ReplicaSets, ReplicationControllers, Jobs and CronJobs, in multi-document
// files and in kind: List. Every other document, and every workload left
// alone (opted out, already injected, hostNetwork), comes out byte for byte
// as it came in; an injected document is re-written by yaml-cpp, which keeps
// its field order but not its comments or quoting style.
#ifndef PALISADE_CONTROL_INJECT_MANIFEST_INJECTOR_H_
#define PALISADE_CONTROL_INJECT_MANIFEST_INJECTOR_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "control/inject/inject_options.h"

namespace palisade::inject {

// What happened to each workload, for the CLI to print on stderr.
struct InjectReport {
  std::vector<std::string> injected;  // "Deployment shop/cart"
  std::vector<std::string> skipped;   // "Pod shop/debug: palisade.dev/inject is \"false\""
  std::vector<std::string> warnings;  // prefixed with the workload
};

// Multi-document YAML in, the same documents out with the sidecar injected.
// Idempotent: injecting the output again returns it unchanged. Errors are
// InvalidArgument naming the document (1-based), its kind/name and the
// problem, e.g. "document 2 (Deployment shop/cart): spec.volumes already has
// a volume named \"palisade-identity\"".
absl::StatusOr<std::string> InjectManifests(absl::string_view yaml, const InjectOptions& options,
                                            InjectReport* report = nullptr);

}  // namespace palisade::inject

#endif  // PALISADE_CONTROL_INJECT_MANIFEST_INJECTOR_H_
