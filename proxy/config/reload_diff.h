// What a reloaded configuration changes against the running one: which
// listeners are added, removed or changed (the parts a running proxy can
// apply), and the first field elsewhere that differs (which needs a restart).
#ifndef PALISADE_PROXY_CONFIG_RELOAD_DIFF_H_
#define PALISADE_PROXY_CONFIG_RELOAD_DIFF_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "proto/palisade/config/v1/config.pb.h"

namespace palisade::config {

// Listener names, each list in the order of the file that has them. A
// listener is the same one when its name and direction are; one whose
// direction changed is removed and added.
struct ListenerDiff {
  std::vector<std::string> added;
  std::vector<std::string> removed;
  std::vector<std::string> changed;
  std::vector<std::string> unchanged;
};

ListenerDiff DiffListeners(const v1::ProxyConfig& running, const v1::ProxyConfig& next);

// Only `inbound` and `outbound` change at runtime. OK when nothing else
// differs; otherwise FailedPrecondition naming the first field that does:
// "runtime.workers: requires a restart (...)".
absl::Status CheckRestartFields(const v1::ProxyConfig& running, const v1::ProxyConfig& next);

// The path of the first field (in schema order) whose value differs, e.g.
// "identity.control_plane.address"; "" when the messages are equal.
// Repeated fields are named as a whole.
std::string FirstDifference(const google::protobuf::Message& a, const google::protobuf::Message& b);

}  // namespace palisade::config

#endif  // PALISADE_PROXY_CONFIG_RELOAD_DIFF_H_
