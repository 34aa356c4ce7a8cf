// palisade-control's admin HTTP API on loopback: /metrics, /healthz, /ready,
// GET /api/v1/state (what an overview page reads), /api/v1/bundle.pem, and
// POST endpoints for join tokens, de-registration and root rollover. The
// CLI subcommands are clients of it. Every route checks the Host (DNS
// rebinding); POSTs and the token list also need the admin credential, and
// POSTs a same-origin application/json request (runtime/http/request_guard).
#ifndef PALISADE_CONTROL_ADMIN_ADMIN_API_H_
#define PALISADE_CONTROL_ADMIN_ADMIN_API_H_

#include <nlohmann/json.hpp>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/http/http_server.h"
#include "runtime/http/request_guard.h"

namespace palisade::control::admin {

// What the admin API may ask of the control plane. Thread-safe.
class ControlApi {
 public:
  virtual ~ControlApi() = default;
  virtual std::string MetricsText() = 0;
  // Empty when ready, else why not.
  virtual std::string NotReadyReason() = 0;
  virtual nlohmann::json State() = 0;
  virtual std::string BundlePem() = 0;
  virtual absl::StatusOr<nlohmann::json> CreateJoinToken(const std::string& spiffe_id,
                                                         absl::Duration ttl, bool single_use) = 0;
  virtual nlohmann::json ListJoinTokens() = 0;
  virtual absl::StatusOr<nlohmann::json> RevokeJoinToken(const std::string& id) = 0;
  virtual absl::StatusOr<nlohmann::json> Deregister(const std::string& spiffe_id) = 0;
  virtual absl::StatusOr<nlohmann::json> Reregister(const std::string& spiffe_id) = 0;
  virtual absl::StatusOr<nlohmann::json> StartRollover() = 0;
  virtual nlohmann::json RolloverState() = 0;
};

// The HTTP status for an error status (400, 404, 409, 500...).
int HttpStatusFor(const absl::Status& status);

// The full admin API, and the overview page at "/", each route behind `guard`.
void InstallAdminRoutes(http::HttpServer* http, ControlApi* api, const http::RequestGuard& guard);
// Only /healthz, /ready and /metrics: for a port probes and Prometheus reach
// (by any name: nothing there is secret or changes anything).
void InstallPublicRoutes(http::HttpServer* http, ControlApi* api);

}  // namespace palisade::control::admin

#endif  // PALISADE_CONTROL_ADMIN_ADMIN_API_H_
