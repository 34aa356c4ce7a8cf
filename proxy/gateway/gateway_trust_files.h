// A gateway listener's trust store and CRLs read from the files its config
// names, and watched: a change builds a new store for new handshakes; one
// that does not load keeps the running store (and is reported).
#ifndef PALISADE_PROXY_GATEWAY_GATEWAY_TRUST_FILES_H_
#define PALISADE_PROXY_GATEWAY_GATEWAY_TRUST_FILES_H_

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "identity/gateway_trust.h"
#include "proto/palisade/config/v1/config.pb.h"
#include "runtime/files/folder_watcher.h"

namespace palisade::gateway {

// Errors name the field, index and file:
// `trust_store_files[1] "/etc/ca.pem": no certificate`.
absl::StatusOr<std::shared_ptr<const identity::GatewayTrust>> LoadGatewayTrust(
    const config::v1::GatewayClients& gateway);

// Watches the files; owns the watcher thread, on which the callbacks run.
class GatewayTrustFiles {
 public:
  using Publish = std::function<void(std::shared_ptr<const identity::GatewayTrust>)>;
  using Refused = std::function<void(const absl::Status&)>;

  static absl::StatusOr<std::unique_ptr<GatewayTrustFiles>> Watch(
      config::v1::GatewayClients gateway, Publish publish, Refused refused);

 private:
  GatewayTrustFiles() = default;
  std::unique_ptr<files::FolderWatcher> watcher_;
};

}  // namespace palisade::gateway

#endif  // PALISADE_PROXY_GATEWAY_GATEWAY_TRUST_FILES_H_
