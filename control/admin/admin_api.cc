#include "control/admin/admin_api.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "control/overview/overview_page.h"

namespace palisade::control::admin {
namespace {

http::HttpResponse Json(int status, const nlohmann::json& body) {
  return http::HttpResponse{status, "application/json", body.dump(2) + "\n"};
}

http::HttpResponse Error(const absl::Status& status) {
  return Json(HttpStatusFor(status), {{"error", std::string(status.message())},
                                      {"code", absl::StatusCodeToString(status.code())}});
}

http::HttpResponse FromResult(const absl::StatusOr<nlohmann::json>& result) {
  if (!result.ok()) return Error(result.status());
  return Json(200, *result);
}

// The request body as a JSON object ("" = {}).
absl::StatusOr<nlohmann::json> Body(const http::HttpRequest& request) {
  if (request.body.empty()) return nlohmann::json::object();
  nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return absl::InvalidArgumentError("the request body must be a JSON object");
  }
  return body;
}

absl::StatusOr<std::string> StringField(const nlohmann::json& body, const char* name) {
  if (!body.contains(name) || !body[name].is_string() || body[name].get<std::string>().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("\"", name, "\" (a string) is required"));
  }
  return body[name].get<std::string>();
}

}  // namespace

int HttpStatusFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
      return 409;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

namespace {

// /metrics, /healthz and /ready, by path.
std::vector<std::pair<std::string, http::HttpServer::Handler>> PublicHandlers(ControlApi* api) {
  return {
      {"/metrics",
       [api](const http::HttpRequest&) {
         return http::HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8",
                                   api->MetricsText()};
       }},
      {"/healthz",
       [](const http::HttpRequest&) {
         return http::HttpResponse{200, "text/plain", "ok\n"};
       }},
      {"/ready",
       [api](const http::HttpRequest&) {
         const std::string reason = api->NotReadyReason();
         if (reason.empty()) return http::HttpResponse{200, "text/plain", "ready\n"};
         return http::HttpResponse{503, "text/plain", "not ready: " + reason + "\n"};
       }},
  };
}

}  // namespace

void InstallPublicRoutes(http::HttpServer* http, ControlApi* api) {
  for (auto& [path, handler] : PublicHandlers(api)) http->Route("GET", path, std::move(handler));
}

void InstallAdminRoutes(http::HttpServer* http, ControlApi* api, const http::RequestGuard& guard) {
  const auto get = [&](const std::string& path, http::Access access,
                       http::HttpServer::Handler handler) {
    http->Route("GET", path, guard.Guard(access, std::move(handler)));
  };
  // Every POST changes something (or could): all of the guard's rules.
  const auto post = [&](const std::string& path, http::HttpServer::Handler handler) {
    http->Route("POST", path, guard.Guard(http::Access::kWrite, std::move(handler)));
  };
  for (auto& [path, handler] : PublicHandlers(api)) {
    get(path, http::Access::kRead, std::move(handler));
  }
  // The overview page and what it reads hold no secret: the Host check keeps
  // a rebound DNS name from reading them, and a page elsewhere cannot.
  get("/", http::Access::kRead, [](const http::HttpRequest&) {
    return http::HttpResponse{200, "text/html; charset=utf-8", overview::kOverviewHtml};
  });
  get("/api/v1/state", http::Access::kRead,
      [api](const http::HttpRequest&) { return Json(200, api->State()); });
  get("/api/v1/bundle.pem", http::Access::kRead, [api](const http::HttpRequest&) {
    return http::HttpResponse{200, "application/x-pem-file", api->BundlePem()};
  });
  // The inventory of bearer credentials: ids, identities, expiries.
  get("/api/v1/tokens", http::Access::kCredential,
      [api](const http::HttpRequest&) { return Json(200, api->ListJoinTokens()); });
  post("/api/v1/tokens", [api](const http::HttpRequest& request) {
    absl::StatusOr<nlohmann::json> body = Body(request);
    if (!body.ok()) return Error(body.status());
    absl::StatusOr<std::string> id = StringField(*body, "spiffe_id");
    if (!id.ok()) return Error(id.status());
    int64_t ttl_seconds = 3600;
    if (body->contains("ttl_seconds")) {
      if (!(*body)["ttl_seconds"].is_number_integer() ||
          (*body)["ttl_seconds"].get<int64_t>() < 0) {
        return Error(
            absl::InvalidArgumentError("\"ttl_seconds\" must be a non-negative integer "
                                       "(0 = never expires)"));
      }
      ttl_seconds = (*body)["ttl_seconds"].get<int64_t>();
    }
    bool single_use = true;
    if (body->contains("single_use")) {
      if (!(*body)["single_use"].is_boolean()) {
        return Error(absl::InvalidArgumentError("\"single_use\" must be true or false"));
      }
      single_use = (*body)["single_use"].get<bool>();
    }
    return FromResult(api->CreateJoinToken(*id, absl::Seconds(ttl_seconds), single_use));
  });
  post("/api/v1/tokens/revoke", [api](const http::HttpRequest& request) {
    absl::StatusOr<nlohmann::json> body = Body(request);
    if (!body.ok()) return Error(body.status());
    absl::StatusOr<std::string> id = StringField(*body, "id");
    if (!id.ok()) return Error(id.status());
    return FromResult(api->RevokeJoinToken(*id));
  });
  post("/api/v1/deregister", [api](const http::HttpRequest& request) {
    absl::StatusOr<nlohmann::json> body = Body(request);
    if (!body.ok()) return Error(body.status());
    absl::StatusOr<std::string> id = StringField(*body, "spiffe_id");
    if (!id.ok()) return Error(id.status());
    return FromResult(api->Deregister(*id));
  });
  post("/api/v1/register", [api](const http::HttpRequest& request) {
    absl::StatusOr<nlohmann::json> body = Body(request);
    if (!body.ok()) return Error(body.status());
    absl::StatusOr<std::string> id = StringField(*body, "spiffe_id");
    if (!id.ok()) return Error(id.status());
    return FromResult(api->Reregister(*id));
  });
  post("/api/v1/rollover/start",
       [api](const http::HttpRequest&) { return FromResult(api->StartRollover()); });
  const http::HttpServer::Handler status = [api](const http::HttpRequest&) {
    return Json(200, api->RolloverState());
  };
  get("/api/v1/rollover", http::Access::kRead, status);
  post("/api/v1/rollover/status", status);
}

}  // namespace palisade::control::admin
