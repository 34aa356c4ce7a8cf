#include "proxy/admin/proxy_admin.h"

#include <google/protobuf/util/json_util.h>
#include <openssl/bio.h>
#include <openssl/x509.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "identity/certificate.h"
#include "runtime/http/request_guard.h"
#include "runtime/net/socket_address.h"

namespace palisade::admin {
namespace {

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

std::string NameOf(const X509_NAME* name) {
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  const uint8_t* data;
  size_t length;
  BIO_mem_contents(bio.get(), &data, &length);
  return std::string(reinterpret_cast<const char*>(data), length);
}

nlohmann::json CertificateJson(X509* cert) {
  return {{"subject", NameOf(X509_get_subject_name(cert))},
          {"issuer", NameOf(X509_get_issuer_name(cert))},
          {"serial", identity::SerialHex(cert)},
          {"not_before", Rfc3339(identity::NotBefore(cert))},
          {"not_after", Rfc3339(identity::NotAfter(cert))},
          {"sha256_fingerprint", identity::Sha256Fingerprint(cert)}};
}

http::HttpResponse Json(int status, const nlohmann::json& body) {
  return http::HttpResponse{status, "application/json", body.dump(2) + "\n"};
}

}  // namespace

std::string NotReadyReason(const ProxyAdminSources& s) {
  const auto snapshot = s.store->Current();
  if (snapshot == nullptr) return "no SVID loaded yet";
  if (snapshot->not_after <= s.clock()) return "the SVID has expired";
  if (!s.server->started()) return "listeners are not bound";
  if (s.server->draining()) return "draining";
  return "";
}

std::string CertsJson(const credentials::CredentialSnapshot* snapshot, absl::Time now) {
  if (snapshot == nullptr) return nlohmann::json{{"svid", nullptr}}.dump(2) + "\n";
  nlohmann::json chain = nlohmann::json::array();
  for (const auto& cert : snapshot->chain) chain.push_back(CertificateJson(cert.get()));
  nlohmann::json bundles = nlohmann::json::object();
  for (const auto& [domain, prints] : snapshot->bundles.Fingerprints()) bundles[domain] = prints;
  nlohmann::json denied = nlohmann::json::array();
  if (snapshot->deny_list != nullptr) {
    std::vector<std::string> ids;
    for (const auto& [id, expires] : snapshot->deny_list->entries()) ids.push_back(id);
    std::sort(ids.begin(), ids.end());
    denied = ids;
  }
  nlohmann::json out = {
      {"svid",
       {{"spiffe_id", snapshot->spiffe_id.ToString()},
        {"serial", snapshot->serial},
        {"not_before", Rfc3339(snapshot->not_before)},
        {"not_after", Rfc3339(snapshot->not_after)},
        {"expires_in_seconds", absl::ToInt64Seconds(snapshot->not_after - now)},
        {"identity_loss_in_seconds", absl::ToInt64Seconds(snapshot->chain_not_after - now)},
        {"root_fingerprint", snapshot->root_fingerprint},
        {"chain", chain}}},
      {"trust_bundles", bundles},
      {"deny_list",
       {{"version", snapshot->deny_list != nullptr ? snapshot->deny_list->version() : 0},
        {"spiffe_ids", denied}}},
      {"source", snapshot->source},
      {"generation", snapshot->generation},
      {"loaded_at", Rfc3339(snapshot->loaded_at)}};
  return out.dump(2) + "\n";
}

namespace {

// /metrics, /healthz and /ready, by path.
std::vector<std::pair<std::string, http::HttpServer::Handler>> PublicHandlers(
    const ProxyAdminSources& s) {
  return {
      {"/metrics",
       [s](const http::HttpRequest&) {
         s.metrics->SetReady(NotReadyReason(s).empty());
         return http::HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8",
                                   s.metrics->Serialize(s.clock())};
       }},
      // Healthy while draining: the drain ends with the process (main.cc).
      {"/healthz",
       [](const http::HttpRequest&) {
         return http::HttpResponse{200, "text/plain", "ok\n"};
       }},
      {"/ready",
       [s](const http::HttpRequest&) {
         const std::string reason = NotReadyReason(s);
         if (reason.empty()) return http::HttpResponse{200, "text/plain", "ready\n"};
         return http::HttpResponse{503, "text/plain", "not ready: " + reason + "\n"};
       }},
  };
}

}  // namespace

void InstallPublicRoutes(http::HttpServer* http, ProxyAdminSources s) {
  for (auto& [path, handler] : PublicHandlers(s)) http->Route("GET", path, std::move(handler));
}

void InstallProxyAdminRoutes(http::HttpServer* http, ProxyAdminSources s) {
  // No credential here (the port stays on loopback and serves no secret),
  // but no web page may drive it: the Host on every route (DNS rebinding),
  // and POST /drain only as a same-origin application/json request, which a
  // page elsewhere cannot send without a preflight this server never grants.
  const http::RequestGuard guard(
      {*net::SocketAddress::Parse(s.config->admin().address()), {}, /*bearer_token=*/""});
  const auto get = [&](const std::string& path, http::HttpServer::Handler handler) {
    http->Route("GET", path, guard.Guard(http::Access::kRead, std::move(handler)));
  };
  for (auto& [path, handler] : PublicHandlers(s)) get(path, std::move(handler));
  get("/certs", [s](const http::HttpRequest&) {
    const auto snapshot = s.store->Current();
    return http::HttpResponse{200, "application/json", CertsJson(snapshot.get(), s.clock())};
  });
  get("/config", [s](const http::HttpRequest&) {
    std::string json;
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    options.add_whitespace = true;
    // The config holds file names, never secrets: keys and tokens live in
    // the files it names.
    (void)google::protobuf::util::MessageToJsonString(*s.server->config(), &json, options);
    return http::HttpResponse{200, "application/json", json};
  });
  get("/listeners", [s](const http::HttpRequest&) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& l : s.server->listeners()) {
      out.push_back({{"name", l.name},
                     {"direction", forward::DirectionName(l.direction)},
                     {"address", l.address.ToString()}});
    }
    return Json(200, out);
  });
  http->Route("POST", "/drain", guard.Guard(http::Access::kWrite, [s](const http::HttpRequest&) {
    s.begin_drain();
    return http::HttpResponse{200, "text/plain",
                              absl::StrCat("draining; the proxy exits once drained (at most ",
                                           absl::FormatDuration(s.server->DrainTimeout()), ")\n")};
  }));
  if (s.reload) {
    http->Route("POST", "/reload", guard.Guard(http::Access::kWrite, [s](const http::HttpRequest&) {
      return s.reload();
    }));
  }
}

}  // namespace palisade::admin
