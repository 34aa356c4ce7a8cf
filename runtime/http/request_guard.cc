#include "runtime/http/request_guard.h"

#include <arpa/inet.h>
#include <openssl/mem.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace palisade::http {
namespace {

HttpResponse Refuse(int status, const std::string& why) {
  return HttpResponse{
      status, "application/json",
      absl::StrCat("{\"error\": \"", why, "\", \"code\": \"",
                   status == 401 ? "UNAUTHENTICATED" : "PERMISSION_DENIED", "\"}\n")};
}

// The host part of a Host header ("name", "name:port", "[v6]:port"), lower
// case, brackets and one trailing dot removed; "" when malformed.
std::string HostPart(absl::string_view header) {
  std::string host = absl::AsciiStrToLower(absl::StripAsciiWhitespace(header));
  absl::string_view h = host;
  if (absl::ConsumePrefix(&h, "[")) {
    const size_t close = h.find(']');
    if (close == absl::string_view::npos) return "";
    absl::string_view rest = h.substr(close + 1);
    uint32_t port;
    if (!rest.empty() && !(absl::ConsumePrefix(&rest, ":") && absl::SimpleAtoi(rest, &port))) {
      return "";
    }
    return std::string(h.substr(0, close));
  }
  const size_t colon = h.find(':');
  if (colon != absl::string_view::npos) {
    uint32_t port;
    if (!absl::SimpleAtoi(h.substr(colon + 1), &port) || port > 65535) return "";
    h = h.substr(0, colon);
  }
  absl::ConsumeSuffix(&h, ".");
  return std::string(h);
}

bool IsLoopbackLiteral(const std::string& host) {
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6;
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

// "\n" stands for a header that must not repeat but did: no header value can
// hold it, so it matches no allowed value.
constexpr char kRepeated[] = "\n";

// The one value of a header that must not repeat; nullopt when absent,
// kRepeated when repeated.
std::optional<std::string> Single(const HttpRequest& request, const std::string& name) {
  std::vector<std::string> values = request.HeaderValues(name);
  if (values.empty()) return std::nullopt;
  if (values.size() > 1) return std::string(kRepeated);
  return std::move(values[0]);
}

bool SameBytes(absl::string_view a, absl::string_view b) {
  // The length is no secret (always 64 hex digits); the content is compared
  // in constant time.
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

RequestGuard::RequestGuard(RequestGuardOptions options) : options_(std::move(options)) {
  for (std::string& name : options_.host_names) name = HostPart(name);
}

bool RequestGuard::HostAllowed(const std::string& host_header) const {
  const std::string host = HostPart(host_header);
  if (host.empty()) return false;
  // A rebinding page always names its own DNS name; an IP literal cannot be
  // rebound. The port is not checked: port-forwarding changes it.
  if (host == "localhost" || IsLoopbackLiteral(host)) return true;
  if (net::IsIpLiteral(host)) {
    return options_.bound.IsUnspecified() || host == options_.bound.HostString();
  }
  for (const std::string& name : options_.host_names) {
    if (host == name) return true;
  }
  return false;
}

std::optional<HttpResponse> RequestGuard::Check(const HttpRequest& request, Access access) const {
  const std::optional<std::string> host = Single(request, "host");
  if (!host || !HostAllowed(*host)) {
    return Refuse(403, "the Host header is not this server's address or a configured name");
  }
  if (access == Access::kWrite) {
    // Browsers send Origin on every POST; a page elsewhere cannot forge it.
    const std::optional<std::string> origin = Single(request, "origin");
    const bool same_origin =
        origin && absl::AsciiStrToLower(*origin) == "http://" + absl::AsciiStrToLower(*host);
    if (origin && !same_origin) return Refuse(403, "cross-origin requests are refused");
    // Fetch metadata, where the browser sends it: "same-site" and "none"
    // only with a matching Origin; never two of it.
    const std::optional<std::string> site = Single(request, "sec-fetch-site");
    if (site && *site != "same-origin" &&
        (*site == "cross-site" || *site == kRepeated || !same_origin)) {
      return Refuse(403, "cross-site requests are refused");
    }
  }
  if (access != Access::kRead && !options_.bearer_token.empty()) {
    const std::optional<std::string> authorization = Single(request, "authorization");
    absl::string_view presented = authorization ? absl::string_view(*authorization) : "";
    if (!absl::ConsumePrefix(&presented, "Bearer ") ||
        !SameBytes(absl::StripAsciiWhitespace(presented), options_.bearer_token)) {
      return Refuse(401, "the admin credential is missing or wrong (Authorization: Bearer)");
    }
  }
  if (access == Access::kWrite) {
    // application/json is no "simple" type: a browser must ask first (a
    // preflight this server never grants), so no page can send it here.
    const std::optional<std::string> type = Single(request, "content-type");
    const std::string media = type ? absl::AsciiStrToLower(absl::StripAsciiWhitespace(
                                         absl::string_view(*type).substr(0, type->find(';'))))
                                   : "";
    if (media != "application/json") {
      return HttpResponse{415, "application/json",
                          "{\"error\": \"Content-Type must be application/json\", \"code\": "
                          "\"INVALID_ARGUMENT\"}\n"};
    }
  }
  return std::nullopt;
}

HttpServer::Handler RequestGuard::Guard(Access access, HttpServer::Handler handler) const {
  return [guard = *this, access, handler = std::move(handler)](const HttpRequest& request) {
    if (std::optional<HttpResponse> refusal = guard.Check(request, access)) return *refusal;
    return handler(request);
  };
}

}  // namespace palisade::http
